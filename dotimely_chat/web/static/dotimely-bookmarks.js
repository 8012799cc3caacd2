// Room bookmarks belong to the component: it adds one for each appointment room a person is in, so the room
// appears by itself in every client. Where the server offers only the older single-item list (XEP-0048
// `storage:bookmarks`, one item "current" holding every room: ejabberd 23.01), the page never writes that list.
// Converse would publish its own copy after joining or leaving a room, replacing the whole item: any room the
// component added while the page was open (Converse does not act on pushed bookmarks) would be lost. ejabberd
// 23.01 refuses that publish anyway ("Unknown field 'pubsub#max_items'" in the publish-options) and Converse
// logs an error. Per-room XEP-0402 bookmarks (Prosody, whose mod_bookmarks advertises bookmarks:1#compat) are
// left to Converse: each of its writes touches one room.

const LEGACY_BOOKMARKS = 'storage:bookmarks';

converse.plugins.add('dotimely-bookmarks', {
    initialize() {
        const { api } = this._converse;
        const publish = api.pubsub.publish;
        api.pubsub.publish = function (jid, node, ...rest) {
            if (node === LEGACY_BOOKMARKS) return Promise.resolve(null);  // the component keeps this list
            return publish.call(this, jid, node, ...rest);
        };
    },
});
