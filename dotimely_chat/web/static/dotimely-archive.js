// The person's own archive at the server (XEP-0313), read by the page for its one-to-one rows. It is the
// same on every device and holds what arrived while the page was closed, also what another of the person's
// clients already received (the server never re-delivers that here). It gives each chat its last message's
// time, what the peer wrote after our last reply or 'displayed' marker (unread), and the last of our messages
// the peer marked displayed (read). The first read takes the latest PAGE messages; later ones only what
// came after the last one seen.

import { childNS } from './dotimely-text.js';

const { $iq, Strophe } = converse.env;
const MAM = 'urn:xmpp:mam:2';
const RSM = 'http://jabber.org/protocol/rsm';
const FORWARD = 'urn:xmpp:forward:0';
const DELAY = 'urn:xmpp:delay';
const MARKERS = 'urn:xmpp:chat-markers:0';
const CLIENT = 'jabber:client';
const PAGE = 250;
const MAX_PAGES = 20;
const REFRESH_MS = 500;

export class OwnArchive {
    /** `onChange` runs after a read that `readSoon` asked for. */
    constructor(api, onChange) {
        this.api = api;
        this.onChange = onChange;
        this.lastId = null;  // the archive id of the last result read; '' once an empty archive was read
        this.chats = new Map();  // peer -> {last, unread: [{id, time}], mine: Map(id -> time)}
        this.readBy = new Map();  // peer -> {id, time}: the latest of our messages the peer displayed
        this.pending = [];  // live markers of messages not read from the archive yet: [{peer, id, stamp}]
        this.queue = Promise.resolve();
        this.timer = null;
    }

    chat(peer) {
        if (!this.chats.has(peer)) this.chats.set(peer, { last: null, unread: [], mine: new Map() });
        return this.chats.get(peer);
    }

    noteReadBy(peer, id, time) {
        const known = this.readBy.get(peer);
        if (!known || Date.parse(time) >= Date.parse(known.time)) this.readBy.set(peer, { id, time });
    }

    /** A peer's 'displayed' marker that came live. The server hands those it kept while the page was away
     *  at login, often before the archive is read (ejabberd 23.01 does not archive them, so the archive never
     *  tells): one whose message is not known yet waits for the next read; `stamp` (its delay) is the
     *  fallback when the archive read does not reach that message. True when it counted at once. */
    markerSeen(peer, id, time, stamp) {
        const known = time || this.chats.get(peer)?.mine.get(id);
        if (known) this.noteReadBy(peer, id, known);
        else if (stamp) this.pending.push({ peer, id, stamp });
        return !!known;
    }

    /** Reads run one after the other. */
    read() {
        this.queue = this.queue.then(() => this.readNow());
        return this.queue;
    }

    /** A burst of messages makes one read. */
    readSoon() {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.read().then(this.onChange), REFRESH_MS);
    }

    async readNow() {
        try {
            for (let page = 0; page < MAX_PAGES; page++) {
                const first = this.lastId === null;
                const answer = await this.query(first ? { before: true } : { after: this.lastId });
                for (const { stanza, time } of answer.results) this.apply(stanza, time);  // oldest first
                if (answer.results.length) this.lastId = answer.results[answer.results.length - 1].id;
                else if (first) this.lastId = '';
                if (first || answer.complete || !answer.results.length) break;
            }
        } catch (error) {
            console.warn('DoTimely: reading the own archive failed', error);
        }
        const waiting = this.pending;
        this.pending = [];
        for (const { peer, id, stamp } of waiting) this.noteReadBy(peer, id, this.chats.get(peer)?.mine.get(id) || stamp);
    }

    /** One MAM query: {results: [{stanza, time, id}], complete}. */
    async query(rsm) {
        const connection = this.api.connection.get();
        const queryid = 'dt-' + Math.random().toString(36).slice(2);
        const results = [];
        // By namespace (childNS): a CSS selector such as `result[xmlns=…]` never matches in an XML element.
        const handler = connection.addHandler((stanza) => {
            const result = childNS(stanza, MAM, 'result');
            if (!result || result.getAttribute('queryid') !== queryid) return true;
            const forwarded = childNS(result, FORWARD, 'forwarded');
            const inner = childNS(forwarded, CLIENT, 'message');
            const stamp = childNS(forwarded, DELAY, 'delay')?.getAttribute('stamp');
            if (inner) results.push({ stanza: inner, time: stamp || new Date().toISOString(), id: result.getAttribute('id') });
            return true;
        }, MAM, 'message');
        try {
            const iq = $iq({ type: 'set' }).c('query', { xmlns: MAM, queryid }).c('set', { xmlns: RSM })
                .c('max').t(String(PAGE)).up();
            if (rsm.before) iq.c('before');  // the latest page
            else if (rsm.after) iq.c('after').t(rsm.after);  // what came since (from the start if it was empty)
            const answer = await this.api.sendIQ(iq);
            const fin = answer.getElementsByTagNameNS(MAM, 'fin')[0];
            return { results, complete: fin?.getAttribute('complete') === 'true' };
        } finally {
            connection.deleteHandler(handler);
        }
    }

    apply(stanza, time) {
        const type = stanza.getAttribute('type');
        if (type === 'groupchat' || type === 'error') return;
        const mine = Strophe.getBareJidFromJid(this.api.connection.get().jid);
        const from = Strophe.getBareJidFromJid(stanza.getAttribute('from') || mine);
        const to = Strophe.getBareJidFromJid(stanza.getAttribute('to') || mine);
        const outgoing = from === mine;
        const peer = outgoing ? to : from;
        if (peer === mine) return;
        const chat = this.chat(peer);
        const id = stanza.getAttribute('id');
        const displayed = childNS(stanza, MARKERS, 'displayed');
        if (childNS(stanza, CLIENT, 'body')) {
            chat.last = time;
            if (outgoing) {
                chat.unread = [];  // a reply means the person read what came before
                const originId = childNS(stanza, 'urn:xmpp:sid:0', 'origin-id')?.getAttribute('id');
                for (const key of [id, originId]) if (key) chat.mine.set(key, time);
            } else {
                chat.unread.push({ id, time });
            }
        } else if (displayed && outgoing) {
            chat.unread = [];
        } else if (displayed) {
            const marked = displayed.getAttribute('id');
            this.noteReadBy(peer, marked, chat.mine.get(marked) || time);
        }
    }
}
