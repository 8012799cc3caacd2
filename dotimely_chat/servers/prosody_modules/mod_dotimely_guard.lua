-- dotimely-chat: close the path that mod_block_strangers leaves open.
-- mod_block_strangers (prosody-modules, 2023) lets any message of type='groupchat' to a user's full JID
-- through, whoever sent it, so a staff member's client could reach a customer one to one. Groupchat
-- messages to users are legitimate only when they come from the MUC service.
local jid_host = require "util.jid".host;

local allowed_hosts = module:get_option_set("dotimely_groupchat_senders", {});

local function drop_foreign_groupchat(event)
	local stanza = event.stanza;
	if stanza.attr.type ~= "groupchat" then return; end
	local from_host = jid_host(stanza.attr.from);
	if from_host and allowed_hosts:contains(from_host) then return; end
	module:log("info", "Dropping groupchat message from %s to %s: not from the MUC service",
		tostring(stanza.attr.from), tostring(stanza.attr.to));
	return true; -- handled: dropped silently, like mod_block_strangers does
end

-- Above mod_block_strangers (priority 200) so the rule holds whatever that module does.
module:hook("message/full", drop_foreign_groupchat, 300);
module:hook("message/bare", drop_foreign_groupchat, 300);
