// Ends the XMPP session when the page goes away (tab or window closed, reload, another address). Without it the
// browser just drops the websocket: Prosody keeps a stream-management session (XEP-0198) hibernating for
// xmpp.session_hibernation seconds for a resumption that never comes, and the person stays "online" meanwhile.
// Strophe's disconnect sends an unavailable presence and closes the stream (<close/>), so the person is offline
// at once, last seen now. A page the browser restores from its back/forward cache has no session left: it
// starts again.

converse.plugins.add('dotimely-leave', {
    initialize() {
        const { api } = this._converse;
        window.addEventListener('pagehide', () => {
            const connection = api.connection.get();
            if (connection?.connected) connection.disconnect('the page was closed');
        });
        window.addEventListener('pageshow', (event) => {
            if (event.persisted) window.location.reload();
        });
    },
});
