-- dotimely-chat: privileged roster sets (XEP-0356) saved item by item.
--
-- mod_privilege (prosody-modules 2023) saves the user's WHOLE roster after each item it sets
-- (rostermanager.save_roster without a JID: a keyval write of every contact). An owner with 2,000 contacts
-- then costs 2,000 row writes per new customer, quadratic over a business. This module handles the same
-- roster sets from the component listed in `dotimely_roster_components` and saves only the item that
-- changed (the map-store path Prosody uses for a client's own roster sets), then pushes it to the user's
-- online resources. Other entities' roster sets still go to mod_privilege.
local jid = require "util.jid";
local st = require "util.stanza";
local rostermanager = require "core.rostermanager";
local usermanager = require "core.usermanager";

local components = module:get_option_set("dotimely_roster_components", {});
local valid_subscriptions = { both = true, to = true, from = true, none = true };

-- Set roster[contact] and save that one item; on failure the old value is put back.
local function store(username, host, roster, contact, new)
	local old = roster[contact];
	roster[contact] = new;
	if not rostermanager.save_roster(username, host, roster, contact) then
		roster[contact] = old;
		return nil, "internal-server-error";
	end
	return contact;
end

local function set_item(username, host, roster, item)
	local contact = jid.prep(item.attr.jid);
	if not contact or select(3, jid.split(contact)) or contact == username.."@"..host or contact == "pending" then
		return nil, "bad-request";
	end
	if item.attr.subscription == "remove" then
		if not roster[contact] then return contact, "unchanged"; end -- removing is idempotent
		return store(username, host, roster, contact, nil);
	end
	local subscription = item.attr.subscription;
	if not valid_subscriptions[subscription] then
		subscription = roster[contact] and roster[contact].subscription or "none";
	end
	local new = { name = item.attr.name ~= "" and item.attr.name or nil, subscription = subscription, groups = {} };
	if subscription ~= "both" and subscription ~= "to" then
		new.ask = roster[contact] and roster[contact].ask;
	end
	for group in item:childtags("group") do
		local text = group:get_text();
		if text and text ~= "" then new.groups[text] = true; end
	end
	return store(username, host, roster, contact, new);
end

module:hook("iq-set/bare/jabber:iq:roster:query", function(event)
	local origin, stanza = event.origin, event.stanza;
	if origin.type ~= "component" or not components:contains(origin.host) then return; end
	local username, host = jid.split(stanza.attr.to);
	if not username or host ~= module.host then return; end
	if not usermanager.user_exists(username, host) then
		origin.send(st.error_reply(stanza, "cancel", "item-not-found", "No such user"));
		return true;
	end
	local roster = rostermanager.load_roster(username, host);
	if not roster then
		origin.send(st.error_reply(stanza, "wait", "internal-server-error", "Roster not available"));
		return true;
	end
	local changed = {};
	for item in stanza.tags[1]:childtags("item", "jabber:iq:roster") do
		local contact, err = set_item(username, host, roster, item);
		if not contact then
			origin.send(st.error_reply(stanza, err == "internal-server-error" and "wait" or "modify", err));
			return true;
		end
		if err ~= "unchanged" then changed[#changed + 1] = contact; end
	end
	origin.send(st.reply(stanza));
	for _, contact in ipairs(changed) do
		rostermanager.roster_push(username, host, contact);
	end
	return true;
end, 10); -- before mod_privilege (priority 0)
