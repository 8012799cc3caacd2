// The page's own one-to-one chat markers (XEP-0333) go out with a store hint (XEP-0334). ejabberd 23.01's
// mod_mam archives a bodyless message only with <store/> (Prosody's mod_mam archives markers anyway), and
// the person's archive is where their other devices and the next page learn that a chat was read: without
// the hint, a chat read here and left without a reply would count as unread again elsewhere. Room markers
// stay Converse's own (Prosody's room archive would start keeping them).

const { $msg, u } = converse.env;
const MARKERS = 'urn:xmpp:chat-markers:0';
const HINTS = 'urn:xmpp:hints';

converse.plugins.add('dotimely-markers', {
    initialize() {
        const { api } = this._converse;
        // Converse 14 asks this hook before it sends a marker; `handled` means it was sent here.
        api.listen.on('sendMarker', (chatbox, data) => {
            if (data.handled || data.msg_type === 'groupchat') return data;
            api.send($msg({ from: api.connection.get().jid, id: u.getUniqueId(), to: data.to_jid, type: data.msg_type || 'chat' })
                .c(data.type, { xmlns: MARKERS, id: data.id }).up()
                .c('store', { xmlns: HINTS }));
            return { ...data, handled: true };
        });
    },
});
