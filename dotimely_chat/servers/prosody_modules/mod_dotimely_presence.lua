-- dotimely-chat: a client whose connection is gone is offline after smacks_hibernation_time, last seen when
-- the connection was lost, push-enabled phones included.
--
-- 1. mod_smacks (XEP-0198) keeps a session that lost its connection without a goodbye "hibernating" for
--    smacks_hibernation_time so that the client can resume it; only when that time is up does mod_presence
--    broadcast the session's unavailable presence, and nothing in it says when the connection was lost. This
--    module stamps that presence with the moment hibernation began (XEP-0203 <delay from='<host>'>), which the
--    component takes as the last seen (contacts' clients get it too). Any <delay> a client put into its own
--    broadcast presence is removed first, so a stamp from the host can be trusted.
-- 2. mod_cloud_notify keeps a push-enabled session (a phone that sleeps on purpose) hibernating much longer
--    (push_max_hibernation_timeout, 72 h): it stays in its rooms and the phone is woken for their messages.
--    Such a session is shown as gone after smacks_hibernation_time all the same: an unavailable presence,
--    stamped as above, goes to the person's contacts and to the component, and the session itself is left
--    alone (its presence, rooms, queue and pushes). When the phone resumes the session, its presence is sent
--    to them again. When the component (re)connects, mod_privilege sends it every kept session's presence,
--    sleeping ones too: each sleeping one is shown gone to it again right after.
local st = require "util.stanza";
local datetime = require "util.datetime".datetime;

local host = module.host;
local xmlns_delay = "urn:xmpp:delay";
local hibernation_time = module:get_option_number("smacks_hibernation_time", 600);
local watchers = module:get_option_set("dotimely_presence_watchers", {}); -- the component(s)

local function stamped_unavailable(since)
	return st.presence({ type = "unavailable" })
		:tag("delay", { xmlns = xmlns_delay; from = host; stamp = datetime(since) }):up();
end

local function stamp_broadcast_presence(event)
	local origin, stanza = event.origin, event.stanza;
	if origin.type ~= "c2s" or stanza.attr.to ~= nil then return; end -- broadcast presence only (no 'to')
	stanza:remove_children("delay", xmlns_delay);
	if stanza.attr.type == "unavailable" and origin.hibernating then
		stanza:tag("delay", { xmlns = xmlns_delay; from = host; stamp = datetime(origin.hibernating) }):up();
	end
end

-- Outbound presence from the user's own session, before mod_presence and mod_privilege (which forwards it to
-- the component at presence/bare) see it.
module:hook("pre-presence/bare", stamp_broadcast_presence, 500);

-- What mod_presence would broadcast, sent only to those who watch the person: contacts subscribed to their
-- presence and the component. session.presence and the directed presences (rooms) are not touched.
local function tell_watchers(session, presence)
	local targets = {};
	for contact, item in pairs(session.roster or {}) do
		if type(contact) == "string" and type(item) == "table"
			and (item.subscription == "both" or item.subscription == "from") then
			targets[contact] = true;
		end
	end
	for watcher in watchers:items() do targets[watcher] = true; end
	for to in pairs(targets) do
		local copy = st.clone(presence);
		copy.attr.from, copy.attr.to = session.full_jid, to;
		module:send(copy);
	end
end

module:hook("smacks-hibernation-start", function(event)
	local session = event.origin;
	if not session.push_identifier then return; end -- the others end with their hibernation (1. above)
	local sleep = (session.dotimely_sleep or 0) + 1;
	session.dotimely_sleep = sleep;
	local since = session.hibernating;
	module:add_timer(hibernation_time, function()
		if session.destroyed or not session.hibernating or session.dotimely_sleep ~= sleep
			or not session.presence then
			return;
		end
		session.dotimely_shown_gone = since;
		module:log("debug", "%s sleeps since %s: shown as gone, its session kept for push", session.full_jid,
			datetime(since));
		tell_watchers(session, stamped_unavailable(since));
	end);
end);

module:hook("smacks-hibernation-end", function(event)
	local session = event.resumed;
	if not session then return; end
	session.dotimely_sleep = (session.dotimely_sleep or 0) + 1; -- a pending timer of the last sleep does nothing
	if not session.dotimely_shown_gone then return; end
	session.dotimely_shown_gone = nil;
	if session.presence then
		tell_watchers(session, session.presence);
	end
end);

-- mod_privilege answers a component's connection with the presence of every session (component-authenticated
-- on the component's host, default priority); right after it, the sleeping ones are shown gone again.
local function show_sleepers_gone(watcher)
	for _, session in pairs(prosody.full_sessions) do
		if session.host == host and session.dotimely_shown_gone and not session.destroyed then
			local gone = stamped_unavailable(session.dotimely_shown_gone);
			gone.attr.from, gone.attr.to = session.full_jid, watcher;
			module:send(gone);
		end
	end
end

-- Protocol trap (Prosody 0.12 core/moduleapi.lua): module:context(h):hook() on a host that is not activated
-- yet hooks Prosody's global events, where component-authenticated never fires. Hosts are activated in no
-- fixed order, so hook each watcher's host once it exists.
local hooked = {};
local function hook_watcher(watcher)
	if hooked[watcher] or not prosody.hosts[watcher] then return; end
	hooked[watcher] = true;
	module:context(watcher):hook("component-authenticated", function() show_sleepers_gone(watcher); end, -10);
end
for watcher in watchers:items() do hook_watcher(watcher); end
module:hook_global("host-activated", function(activated)
	if watchers:contains(activated) then hook_watcher(activated); end
end);
