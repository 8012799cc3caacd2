// DoTimely's Converse.js 14.0.0 plugin: one "Conversations" list (chats and appointment rooms, most recent
// first, unread counts, online dots) with "Start New" at its bottom; online / last seen in chat headings;
// delivered and read ticks on one's own one-to-one messages (Converse 14 shows no read state: its marker
// handler saves a literal 'field_name' attribute, see shared/WEB-CLIENT.md); in rooms, who has and who read
// one's own messages, from our status API. It mounts into Converse's DOM, so Converse stays pinned and a
// browser test covers it (tests/browser).

const { $iq, Strophe, sizzle } = converse.env;
const MAM = 'urn:xmpp:mam:2';
const MARKERS = 'urn:xmpp:chat-markers:0';
const LIST_REFRESH_MS = 15000;
const DECORATE_MS = 1000;

async function getJSON(url, options = {}) {
    const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' }, ...options });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(body.error || response.statusText), { status: response.status, body });
    return body;
}

function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
        if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
        else if (value !== undefined && value !== null) node.setAttribute(key, value);
    }
    for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
}

function timeLabel(iso) {
    if (!iso) return '';
    const date = new Date(iso);
    const today = new Date();
    const sameDay = date.toDateString() === today.toDateString();
    return sameDay ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
        : date.toLocaleDateString([], { day: 'numeric', month: 'short' }) + ' ' +
          date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

converse.plugins.add('dotimely', {
    initialize() {
        const _converse = this._converse;
        const { api } = _converse;
        const me = window.dotimelyMe;
        const state = { items: [], oneToOne: new Map(), readUpTo: new Map(), presence: new Map(), mounted: null };

        // ---------------------------------------------------------------- one-to-one history (own MAM)
        // The person's own archive at the server, the same on every device: one query for the latest 250
        // messages gives each one-to-one chat its last activity and what the peer said after our last
        // 'displayed' marker or reply (unread).
        async function readOwnArchive() {
            const connection = api.connection.get();
            const queryid = 'dt-' + Math.random().toString(36).slice(2);
            const found = [];
            const handler = connection.addHandler((stanza) => {
                const result = stanza.querySelector(`result[xmlns="${MAM}"][queryid="${queryid}"]`);
                if (!result) return true;
                const inner = result.querySelector('forwarded > message');
                const delay = result.querySelector('forwarded > delay');
                if (inner) found.push({ stanza: inner, time: delay ? delay.getAttribute('stamp') : null });
                return true;
            }, MAM, 'message');
            try {
                await api.sendIQ($iq({ type: 'set' }).c('query', { xmlns: MAM, queryid })
                    .c('set', { xmlns: 'http://jabber.org/protocol/rsm' }).c('max').t('250').up().c('before'));
            } catch (error) {
                console.warn('DoTimely: reading the own archive failed', error);
            } finally {
                connection.deleteHandler(handler);
            }
            const mine = Strophe.getBareJidFromJid(connection.jid);
            const chats = new Map();
            for (const { stanza, time } of found) {  // oldest first
                if (stanza.getAttribute('type') === 'groupchat') continue;
                const from = Strophe.getBareJidFromJid(stanza.getAttribute('from') || mine);
                const to = Strophe.getBareJidFromJid(stanza.getAttribute('to') || mine);
                const outgoing = from === mine;
                const peer = outgoing ? to : from;
                const chat = chats.get(peer) || { last: null, unread: 0 };
                const hasBody = !!stanza.querySelector('body');
                if (hasBody) {
                    chat.last = time;
                    chat.unread = outgoing ? 0 : chat.unread + 1;
                } else if (outgoing && stanza.getElementsByTagNameNS(MARKERS, 'displayed').length) {
                    chat.unread = 0;
                }
                chats.set(peer, chat);
            }
            state.oneToOne = chats;
        }

        // ---------------------------------------------------------------------- the conversations list
        async function refreshList() {
            try {
                const body = await getJSON('/web/api/conversations');
                state.items = body.conversations;
            } catch (error) {
                if (error.status === 401 || error.status === 403) window.dotimelyShowMessage(error.body);
                return;
            }
            renderList();
        }

        function liveUnread(jid) {
            const box = _converse.state?.chatboxes?.get(jid);
            return box ? (box.get('num_unread') || 0) : 0;
        }

        function sortedItems() {
            const items = state.items.map((item) => {
                const copy = { ...item };
                if (item.kind === 'chat') {
                    const known = state.oneToOne.get(item.jid);
                    copy.last_activity_at = known?.last || null;
                    copy.unread = Math.max(known?.unread || 0, liveUnread(item.jid));
                }
                const box = _converse.state?.chatboxes?.get(item.jid);
                const lastLive = box?.messages?.last()?.get('time');
                if (lastLive && (!copy.last_activity_at || lastLive > copy.last_activity_at)) copy.last_activity_at = lastLive;
                return copy;
            });
            // Most recent first; chats never written in go last, by name.
            return items.sort((a, b) => (b.last_activity_at ? Date.parse(b.last_activity_at) : 0) -
                (a.last_activity_at ? Date.parse(a.last_activity_at) : 0) || a.name.localeCompare(b.name));
        }

        function presenceOf(jid) {
            const contact = _converse.state?.roster?.get(jid);
            const show = contact?.presence?.get('show');
            return show && show !== 'offline' ? show : 'offline';
        }

        function renderList() {
            const pane = document.querySelector('converse-controlbox .controlbox-pane');
            if (!pane) return;
            let root = pane.querySelector('.dt-conversations');
            if (!root) {
                root = el('section', { class: 'dt-conversations', 'aria-label': 'Conversations' });
                pane.prepend(root);
            }
            const list = el('ul', { class: 'dt-conversation-list' });
            for (const item of sortedItems()) {
                const dot = item.kind === 'chat'
                    ? el('span', { class: `dt-dot dt-dot--${presenceOf(item.jid)}`, title: presenceOf(item.jid) })
                    : el('span', { class: 'dt-room-icon', title: 'Appointment chat' }, '#');
                const badge = item.unread ? el('span', { class: 'dt-unread', title: `${item.unread} unread` }, item.unread) : '';
                const sub = item.kind === 'room'
                    ? (item.audience === 'owner' ? 'Owners only' : 'Appointment chat') +
                      (item.appointment_status === 'cancelled' ? ' · cancelled' : '')
                    : item.role;
                list.append(el('li', {
                    class: `dt-conversation dt-conversation--${item.kind}`, 'data-jid': item.jid,
                    onclick: () => openConversation(item),
                }, dot, el('span', { class: 'dt-conversation-text' },
                    el('span', { class: 'dt-conversation-name' }, item.name),
                    el('span', { class: 'dt-conversation-sub' }, sub)),
                el('span', { class: 'dt-conversation-time' }, timeLabel(item.last_activity_at)), badge));
            }
            if (!state.items.length) list.append(el('li', { class: 'dt-empty' }, 'No conversations yet.'));
            const startNew = el('button', { class: 'dt-start-new', type: 'button', onclick: openStartNew }, 'Start New');
            const brand = el('div', { class: 'dt-brand' }, el('span', { class: 'dt-logo' }, 'DoTimely'),
                el('span', { class: 'dt-business' }, me.business.name));
            root.replaceChildren(brand, el('h2', { class: 'dt-conversations-title' }, 'Conversations'), list, startNew);
        }

        async function openConversation(item) {
            if (item.kind === 'room') await api.rooms.open(item.jid, { nick: me.name }, true);
            else await api.chats.open(item.jid, {}, true);
            setTimeout(renderList, 300);
        }

        // ------------------------------------------------------------------------------- Start New
        function closeDialog(dialog) { dialog.close(); dialog.remove(); }

        async function openStartNew() {
            const dialog = el('dialog', { class: 'dt-start-new-dialog', 'aria-label': 'Start New' });
            const close = el('button', { class: 'dt-close', type: 'button', onclick: () => closeDialog(dialog) }, 'Close');
            document.body.append(dialog);
            if (me.role === 'owner') {
                const results = el('ul', { class: 'dt-results' });
                const input = el('input', { class: 'dt-search', type: 'search', placeholder: 'Type part of a name, e-mail or phone', autocomplete: 'off' });
                let timer = null;
                input.addEventListener('input', () => {
                    clearTimeout(timer);
                    timer = setTimeout(async () => {
                        const q = input.value.trim();
                        if (q.length < 2) { results.replaceChildren(); return; }
                        const people = await getJSON('/web/api/people?q=' + encodeURIComponent(q));
                        results.replaceChildren(...(people.length ? people.map((p) => el('li', {
                            class: 'dt-result', 'data-jid': p.jid,
                            onclick: async () => { closeDialog(dialog); await api.chats.open(p.jid, {}, true); setTimeout(renderList, 300); },
                        }, el('span', { class: 'dt-result-name' }, p.fullname), el('span', { class: 'dt-result-role' }, p.role)))
                            : [el('li', { class: 'dt-empty' }, 'Nobody found.')]));
                    }, 200);
                });
                dialog.append(el('h2', {}, 'Start New'), el('p', {}, 'Find a person of your business.'), input, results, close);
                dialog.showModal();
                input.focus();
                return;
            }
            const body = await getJSON('/web/api/appointments');
            const audiences = body.audiences;
            const audienceSelect = audiences.length > 1 ? el('select', { class: 'dt-audience' },
                el('option', { value: 'everyone' }, 'Everyone: the customer, you and the owners'),
                el('option', { value: 'owner' }, 'Only the owners and you')) : null;
            const list = el('ul', { class: 'dt-results' }, ...(body.appointments.length ? body.appointments.map((a) => el('li', {
                class: 'dt-result dt-appointment', 'data-appointment': a.id,
                onclick: async () => {
                    const payload = { appointment: a.id };
                    if (audienceSelect) payload.audience = audienceSelect.value;
                    const room = await getJSON('/web/api/conversations', {
                        method: 'POST', body: JSON.stringify(payload), headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
                    });
                    closeDialog(dialog);
                    // A bookmark pushed while Converse is connected is not acted on: open the room ourselves.
                    await api.rooms.open(room.jid, { nick: me.name, name: room.name }, true);
                    refreshList();
                },
            }, el('span', { class: 'dt-result-name' }, `${a.service_name} · ${timeLabel(a.starts_at)}`),
               el('span', { class: 'dt-result-role' }, a.status === 'cancelled' ? 'cancelled' : '')))
                : [el('li', { class: 'dt-empty' }, 'You have no recent or upcoming appointment.')]));
            dialog.append(el('h2', {}, 'Start New'), el('p', {}, 'Pick one of your appointments.'),
                audienceSelect ? el('label', {}, 'Who is in the chat ', audienceSelect) : '', list, close);
            dialog.showModal();
        }

        // ------------------------------------------------------------------ read markers (one to one)
        // Converse 14 answers markers but never shows a read state. We keep 'displayed' per peer, by the
        // position of the marked message: everything of ours up to it is read.
        function onMarker(stanza) {
            const displayed = stanza.getElementsByTagNameNS(MARKERS, 'displayed')[0];
            if (!displayed || stanza.getAttribute('type') === 'groupchat') return true;
            const peer = Strophe.getBareJidFromJid(stanza.getAttribute('from'));
            const box = _converse.state?.chatboxes?.get(peer);
            const id = displayed.getAttribute('id');
            const message = box?.messages?.find((m) => m.get('msgid') === id || m.get('origin_id') === id);
            if (message) {
                const upTo = message.get('time');
                if (!state.readUpTo.get(peer) || upTo > state.readUpTo.get(peer)) state.readUpTo.set(peer, upTo);
                decorate();
            }
            return true;
        }

        // ----------------------------------------------------------------- decorations of chat views
        async function lastSeenLine(jid) {
            const live = presenceOf(jid);
            if (live !== 'offline') return live === 'online' ? 'online' : `online (${live})`;
            const cached = state.presence.get(jid);
            if (cached && Date.now() - cached.at < 30000) return cached.text;
            state.presence.set(jid, { at: Date.now(), text: cached?.text || '' });
            try {
                const body = await getJSON('/web/api/presence/' + encodeURIComponent(jid));
                const text = body.online ? 'online' : body.last_seen_at ? `last seen ${timeLabel(body.last_seen_at)}` : 'offline';
                state.presence.set(jid, { at: Date.now(), text });
                return text;
            } catch {
                return '';
            }
        }

        async function decorateHeading(view) {
            const jid = view.getAttribute('jid') || view.model?.get('jid');
            const heading = view.querySelector('.chatbox-title__text, .chat-head .chatbox-title');
            if (!jid || !heading) return;
            const text = await lastSeenLine(jid);
            let line = view.querySelector('.dt-presence-line');
            if (!line) {
                line = el('div', { class: 'dt-presence-line' });
                heading.after(line);
            }
            if (line.textContent !== text) line.textContent = text;
        }

        function decorateOneToOne(view) {
            const jid = view.getAttribute('jid') || view.model?.get('jid');
            const readUpTo = state.readUpTo.get(jid);
            for (const node of view.querySelectorAll('converse-chat-message')) {
                const model = node.model;
                if (!model || model.get('sender') !== 'me' || model.get('type') === 'groupchat') continue;
                const read = readUpTo && model.get('time') <= readUpTo;
                const tickState = read ? 'read' : model.get('received') ? 'delivered' : 'sent';
                const body = node.querySelector('.chat-msg__body') || node.querySelector('.chat-msg__content');
                if (!body) continue;
                let tick = node.querySelector('.dt-tick');
                if (!tick) {
                    tick = el('span', { class: 'dt-tick' });
                    body.append(tick);
                }
                if (tick.dataset.state !== tickState) {
                    tick.dataset.state = tickState;
                    tick.textContent = { sent: '✓ Sent', delivered: '✓✓ Delivered', read: '✓✓ Read' }[tickState];
                    tick.title = tickState === 'read' ? 'Read' : tickState === 'delivered' ? 'Delivered' : 'Sent';
                }
            }
        }

        function decorateRoom(view) {
            const roomJid = view.getAttribute('jid') || view.model?.get('jid');
            for (const node of view.querySelectorAll('converse-chat-message')) {
                const model = node.model;
                if (!model || model.get('sender') !== 'me' || node.querySelector('.dt-room-status')) continue;
                const stanzaId = model.get(`stanza_id ${roomJid}`);
                const body = node.querySelector('.chat-msg__body') || node.querySelector('.chat-msg__content');
                if (!stanzaId || !body) continue;
                const panel = el('div', { class: 'dt-room-status-panel', hidden: '' });
                const button = el('button', {
                    class: 'dt-room-status', type: 'button', title: 'Who has it and who read it',
                    onclick: () => showRoomStatus(roomJid, stanzaId, panel),
                }, 'Seen by…');
                body.append(button, panel);
            }
        }

        async function showRoomStatus(roomJid, stanzaId, panel) {
            panel.hidden = false;
            panel.textContent = 'Loading…';
            try {
                const body = await getJSON(`/web/api/rooms/${encodeURIComponent(roomJid)}/messages/${encodeURIComponent(stanzaId)}/status`);
                const rows = body.members.filter((m) => m.jid !== me.jid).map((m) => el('li', { 'data-jid': m.jid || '' },
                    el('span', { class: 'dt-member' }, m.name || m.jid || 'someone who left'), ' — ',
                    m.read_at ? `read ${timeLabel(m.read_at)}` : m.delivered_at ? `has it since ${timeLabel(m.delivered_at)}` : 'not yet'));
                panel.replaceChildren(el('div', { class: 'dt-overall', 'data-status': body.status },
                    { sent: 'Sent', delivered: 'Delivered to everyone', read: 'Read by everyone' }[body.status] || body.status),
                    el('ul', {}, ...rows));
            } catch (error) {
                panel.textContent = error.status === 404 ? 'Not recorded yet; try again in a moment.' : 'Not available.';
            }
        }

        let decorating = false;
        async function decorate() {
            if (decorating) return;
            decorating = true;
            try {
                if (state.mounted && !document.querySelector('.dt-conversations')) renderList();
                for (const view of document.querySelectorAll('converse-chat')) {
                    decorateOneToOne(view);
                    await decorateHeading(view);
                }
                for (const view of document.querySelectorAll('converse-muc')) decorateRoom(view);
            } finally {
                decorating = false;
            }
        }

        // ----------------------------------------------------------------------------------- wiring
        // Converse may connect before it has drawn its control box, where the list lives: wait for it
        // (up to 10 s), so that the page is never "ready" with an empty list.
        async function renderWhenDrawn() {
            for (let i = 0; i < 100 && !document.querySelector('converse-controlbox .controlbox-pane'); i++) {
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
            renderList();
        }

        api.listen.on('connected', async () => {
            api.connection.get().addHandler(onMarker, MARKERS, 'message');
            state.mounted = true;
            await refreshList();
            await readOwnArchive();
            await renderWhenDrawn();
            document.body.classList.add('dt-ready');
        });
        api.listen.on('reconnected', async () => { await refreshList(); await readOwnArchive(); renderList(); });
        api.listen.on('contactPresenceChanged', () => renderList());
        api.listen.on('message', () => setTimeout(() => { renderList(); decorate(); }, 200));
        api.listen.on('chatBoxViewInitialized', () => setTimeout(decorate, 100));
        setInterval(decorate, DECORATE_MS);
        setInterval(refreshList, LIST_REFRESH_MS);
    },
});
