-- dotimely-chat: the right "last seen" for a client that lost its connection without saying goodbye.
--
-- mod_smacks (XEP-0198) keeps such a session "hibernating" for smacks_hibernation_time so that the client can
-- resume it; only when that time is up does mod_presence broadcast the session's unavailable presence, and
-- nothing in it says when the connection was actually lost. This module stamps that presence with the moment
-- hibernation began (XEP-0203 <delay from='<host>'>), which the component takes as the last seen (contacts'
-- clients get it too). Any <delay> a client put into its own broadcast presence is removed first, so a stamp
-- from the host can be trusted.
local datetime = require "util.datetime".datetime;

local host = module.host;
local xmlns_delay = "urn:xmpp:delay";

local function stamp_broadcast_presence(event)
	local origin, stanza = event.origin, event.stanza;
	if origin.type ~= "c2s" or stanza.attr.to ~= nil then return; end -- broadcast presence only (no 'to')
	stanza:remove_children("delay", xmlns_delay);
	if stanza.attr.type == "unavailable" and origin.hibernating then
		stanza:tag("delay", { xmlns = xmlns_delay; from = host; stamp = datetime(origin.hibernating) }):up();
		module:log("debug", "%s went away at %s (hibernated until now)", origin.full_jid or "?",
			datetime(origin.hibernating));
	end
end

-- Outbound presence from the user's own session, before mod_presence and mod_privilege (which forwards it to
-- the component at presence/bare) see it.
module:hook("pre-presence/bare", stamp_broadcast_presence, 500);
