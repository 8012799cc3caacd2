-- dotimely-chat: close the paths that mod_block_strangers leaves open between users.
--
-- 1. mod_block_strangers (prosody-modules, 2023) lets any message of type='groupchat' to a user's full JID
--    through, whoever sent it, so a staff member's client could reach a customer one to one. Groupchat
--    messages to users are legitimate only when they come from the MUC service.
-- 2. Presence subscriptions between users: once a customer approves a staff member's request (one click in
--    Conversations or Gajim) they are roster contacts and mod_block_strangers lets their chat through.
--    The component manages every roster (XEP-0356), so users never need to subscribe to each other.
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

local subscription_requests = { subscribe = true, subscribed = true };

local function drop_user_subscriptions(event)
	local origin, stanza = event.origin, event.stanza;
	if origin.type ~= "c2s" or not subscription_requests[stanza.attr.type] then return; end
	local to_host = jid_host(stanza.attr.to);
	if not (to_host and prosody.hosts[to_host] and prosody.hosts[to_host].type == "local") then return; end
	module:log("info", "Dropping %s presence from %s to %s: rosters are managed by the component",
		stanza.attr.type, tostring(origin.full_jid), tostring(stanza.attr.to));
	return true;
end

-- Outbound presence from the user's own session, before mod_presence turns it into a roster change.
module:hook("pre-presence/bare", drop_user_subscriptions, 300);
module:hook("pre-presence/full", drop_user_subscriptions, 300);
