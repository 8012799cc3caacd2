-- dotimely-chat: one-to-one messages between users follow the roster the component manages, and a refused
-- message is answered with an error the sender's client shows beside it (Gajim, Conversations).
--
-- 1. mod_block_strangers (prosody-modules, 2023) drops a message from anyone the recipient is not subscribed
--    to, silently: the sender's client shows it as sent. We apply the same rule first (priority 300, above
--    its 200) and answer the sending client with <not-allowed/> and a text a person understands. Nothing
--    is delivered, stored offline or archived, as before; mod_block_strangers stays loaded behind us.
-- 2. mod_block_strangers lets any message of type='groupchat' to a user's full JID through, whoever sent
--    it, so a staff member's client could reach a customer one to one. Groupchat messages to users are
--    legitimate only when they come from the MUC service.
-- 3. Presence subscriptions between users: once a customer approves a staff member's request (one click in
--    Conversations or Gajim) they are roster contacts and mod_block_strangers lets their chat through.
--    The component manages every roster (XEP-0356), so users never need to subscribe to each other.
local st = require "util.stanza";
local jid = require "util.jid";
local jid_split, jid_bare, jid_host = jid.split, jid.bare, jid.host;
local is_contact_subscribed = require "core.rostermanager".is_contact_subscribed;
local full_sessions = prosody.full_sessions;

local allowed_hosts = module:get_option_set("dotimely_groupchat_senders", {});
local refusal_text = module:get_option_string("dotimely_refusal_text",
	"This message was not delivered: staff and customers talk in the appointment chat.");

local function has_directed_presence(user_full_jid, jid)
	local session = full_sessions[user_full_jid];
	return session and session.directed and session.directed[jid];
end

-- Why the message may not pass, or nil when it may (the rule of mod_block_strangers, plus groupchat).
local function refusal(stanza)
	local to_user, to_host = jid_split(stanza.attr.to);
	if not to_user then return nil; end
	local from_bare = jid_bare(stanza.attr.from);
	if stanza.attr.type == "groupchat" then
		local from_host = jid_host(stanza.attr.from);
		if from_host and allowed_hosts:contains(from_host) then return nil; end
		return "groupchat message not from the MUC service";
	end
	if from_bare == to_user.."@"..to_host then return nil; end -- one's own other devices
	if has_directed_presence(stanza.attr.to, from_bare) then return nil; end
	if is_contact_subscribed(to_user, to_host, from_bare) then return nil; end
	return "sender not subscribed to the recipient";
end

local function guard_message(event)
	local origin, stanza = event.origin, event.stanza;
	-- Never answer an error (no error loops): mod_block_strangers decides about those, as before.
	if stanza.attr.type == "error" then return; end
	local why = refusal(stanza);
	if not why then return; end
	-- Only a person's client is told, and only about a message it shows (one with a body): receipts,
	-- markers and chat states are dropped quietly, as are stanzas from the MUC service or the component.
	local told = origin and origin.type == "c2s" and stanza:get_child("body") ~= nil;
	module:log("info", "Refusing %s message from %s to %s (%s)%s", tostring(stanza.attr.type or "normal"),
		tostring(stanza.attr.from), tostring(stanza.attr.to), why, told and ", sender told" or "");
	if told then
		-- Straight to the sending session: routed, the error would come from a stranger and be dropped.
		origin.send(st.error_reply(stanza, "cancel", "not-allowed", refusal_text));
	end
	return true; -- handled: not delivered, not stored offline, not archived
end

module:hook("message/full", guard_message, 300);
module:hook("message/bare", guard_message, 300);

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
