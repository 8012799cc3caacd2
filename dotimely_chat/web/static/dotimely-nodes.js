// On an ejabberd cluster every node serves the page's websocket on its own address (settings.websocket_urls, the
// first node first). When the connection drops, Converse reconnects to the URL it started with: a node that was
// stopped would leave the page "reconnecting" until it is back. Before each reconnection this plugin moves the
// connection to the next node's URL, so the page goes on through a node that runs (stream management then starts a
// new session on it: the old one lived on the node that went). With one URL (Prosody, one node, a proxy) it does
// nothing.

const nodeUrls = JSON.parse(document.getElementById('dotimely-settings').textContent).websocket_urls || [];

converse.plugins.add('dotimely-nodes', {
    initialize() {
        if (nodeUrls.length < 2) return;
        const { api } = this._converse;
        api.listen.on('will-reconnect', () => {
            const connection = api.connection.get();
            if (!connection) return;
            const next = nodeUrls[(nodeUrls.indexOf(connection.service) + 1) % nodeUrls.length];
            api.settings.set('websocket_url', next);
            connection.service = next;
        });
        const shown = () => { document.body.dataset.dtNode = api.connection.get().service; };
        api.listen.on('connected', shown);
        api.listen.on('reconnected', shown);
    },
});
