// DoTimely's Converse.js 14.0.0 plugin: one "Conversations" list (chats and appointment rooms, most recent
// first, unread counts, online dots) with "Start New" at its bottom; online / last seen in chat headings;
// delivered and read ticks on one's own one-to-one messages (Converse 14 shows no read state: its marker
// handler saves a literal 'field_name' attribute, see shared/WEB-CLIENT.md); in rooms, who has and who read
// one's own messages, from our status API. It mounts into Converse's DOM, so Converse stays pinned and a
// browser test covers it (tests/browser). Reading the own archive and the texts of times and presence live in
// dotimely-archive.js and dotimely-text.js.

import { OwnArchive } from './dotimely-archive.js';
import { childNS, dateLabel, presenceText, timeLabel } from './dotimely-text.js';

const { Strophe } = converse.env;
const MARKERS = 'urn:xmpp:chat-markers:0';
const IDLE = 'urn:xmpp:idle:1';
const DELAY = 'urn:xmpp:delay';
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
        if (key.startsWith('on')) { if (value) node.addEventListener(key.slice(2), value); }
        else if (value !== undefined && value !== null) node.setAttribute(key, value);
    }
    for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
}

converse.plugins.add('dotimely', {
    initialize() {
        const _converse = this._converse;
        const { api } = _converse;
        const me = window.dotimelyMe;
        // presence: our status API answers by JID; extras: idle since and status text by JID and resource.
        const state = { items: [], presence: new Map(), extras: new Map(), mounted: null };

        // ------------------------------------------- one-to-one history: the own archive (dotimely-archive.js)
        const archive = new OwnArchive(api, () => { renderList(); decorate(); });

        // What the person has seen here of a chat, as the archive time of its latest message then, kept in
        // this browser: a chat on screen has no unread messages, also after a reload.
        const seenKey = `dotimely.seen.${me.jid}`;
        const seen = (() => {
            try { return JSON.parse(localStorage.getItem(seenKey) || '{}'); } catch { return {}; }
        })();

        function markSeen(peer) {
            const chat = archive.chats.get(peer);
            const latest = chat?.unread[chat.unread.length - 1]?.time;
            if (!latest || (seen[peer] && Date.parse(seen[peer]) >= Date.parse(latest))) return;
            seen[peer] = latest;
            try { localStorage.setItem(seenKey, JSON.stringify(seen)); } catch { /* storage full or off */ }
        }

        function onScreen(peer) {
            const box = _converse.state?.chatboxes?.get(peer);
            return !!box && typeof box.isHidden === 'function' && !box.isHidden();
        }

        function unreadOf(peer) {
            if (onScreen(peer)) markSeen(peer);
            const since = seen[peer] ? Date.parse(seen[peer]) : null;
            return (archive.chats.get(peer)?.unread || []).filter((m) => since === null || Date.parse(m.time) > since).length;
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

        function lastTextTime(box) {
            const models = box?.messages?.models || [];
            for (let i = models.length - 1; i >= 0; i--) if (models[i].get('body')) return models[i].get('time');
            return null;
        }

        function sortedItems() {
            const items = state.items.map((item) => {
                const copy = { ...item };
                if (item.kind === 'chat') {
                    copy.last_activity_at = archive.chats.get(item.jid)?.last || null;
                    copy.unread = unreadOf(item.jid);
                } else if (onScreen(item.jid)) {
                    copy.unread = 0;
                }
                // The last message with a text: Converse also keeps notes such as "… is busy" among them.
                const box = _converse.state?.chatboxes?.get(item.jid);
                const lastLive = lastTextTime(box);
                if (lastLive && (!copy.last_activity_at || Date.parse(lastLive) > Date.parse(copy.last_activity_at))) copy.last_activity_at = lastLive;
                return copy;
            });
            // Most recent first; chats never written in go last, by name.
            return items.sort((a, b) => (b.last_activity_at ? Date.parse(b.last_activity_at) : 0) -
                (a.last_activity_at ? Date.parse(a.last_activity_at) : 0) || a.name.localeCompare(b.name));
        }

        // ------------------------------------------------------------------------------- presence
        // Converse 14 models a contact's presence as `presence` online/offline plus the `show` of its
        // highest-priority resource, which a plain available presence does not have: getStatus() gives
        // 'online', 'chat', 'away', 'xa', 'dnd' or 'offline'. It keeps neither idle time (XEP-0319) nor
        // status text, so the plugin reads those from the presence stanzas itself, per resource.
        function onPresence(stanza) {
            const from = stanza.getAttribute('from');
            if (!from || stanza.getAttribute('type') === 'error') return true;
            const bare = Strophe.getBareJidFromJid(from);
            const resource = Strophe.getResourceFromJid(from) || '';
            const resources = state.extras.get(bare) || new Map();
            if (stanza.getAttribute('type') === 'unavailable') resources.delete(resource);
            else if (!stanza.getAttribute('type')) {
                resources.set(resource, { idleSince: childNS(stanza, IDLE, 'idle')?.getAttribute('since') || null,
                                          status: childNS(stanza, 'jabber:client', 'status')?.textContent || null });
            }
            state.extras.set(bare, resources);
            return true;
        }

        // The live presence of a roster contact, or null when Converse does not have them in the roster.
        function livePresence(jid) {
            const contact = _converse.state?.roster?.get(jid);
            if (!contact) return null;
            const status = contact.getStatus?.() || 'offline';
            if (status === 'offline') return { online: false, lastSeen: state.presence.get(jid)?.body?.last_seen_at || null };
            const resource = contact.presence?.getHighestPriorityResource?.()?.get('name');
            const extra = state.extras.get(jid)?.get(resource) || {};
            return { online: true, show: status === 'online' ? null : status, idleSince: extra.idleSince || null,
                     status: extra.status || null };
        }

        function dotClass(presence) {
            if (!presence?.online) return 'offline';
            return presence.show || 'online';
        }

        // Our status API: {online, show, last_seen_at, idle_since, status}; a missing `show` is null.
        async function storedPresence(jid, maxAge = 30000) {
            const cached = state.presence.get(jid);
            if (cached && Date.now() - cached.at < maxAge) return cached.body;
            state.presence.set(jid, { at: Date.now(), body: cached?.body || null });
            try {
                const body = await getJSON('/web/api/presence/' + encodeURIComponent(jid));
                state.presence.set(jid, { at: Date.now(), body });
                return body;
            } catch {
                return cached?.body || null;
            }
        }

        async function presenceLine(jid) {
            const live = livePresence(jid);
            if (live?.online) return presenceText(live);
            // Gone offline a moment ago: our records may not have the logout yet, so ask again soon.
            const body = await storedPresence(jid, live && state.presence.get(jid)?.body?.online ? 2000 : 30000);
            if (live) return presenceText({ online: false, lastSeen: body?.last_seen_at || null });
            if (!body) return '';
            return presenceText({ online: body.online, show: body.show ?? null, idleSince: body.idle_since,
                                  status: body.status, lastSeen: body.last_seen_at });
        }

        // The list does not ask our records about every offline contact: a row asks when the pointer is on it.
        async function showLastSeen(item, row) {
            if (livePresence(item.jid)?.online) return;
            const text = await presenceLine(item.jid);
            if (!text || livePresence(item.jid)?.online) return;
            row.title = `${item.name} · ${text}`;
            row.querySelector('.dt-dot')?.setAttribute('title', text);
        }

        function renderList() {
            const pane = document.querySelector('converse-controlbox .controlbox-pane');
            if (!pane) return;
            let root = pane.querySelector('.dt-conversations');
            if (!root) {
                root = el('section', { class: 'dt-conversations', 'aria-label': 'Conversations' });
                pane.prepend(root);
            }
            const items = sortedItems();
            // Redrawn only when something shown changed (it is called every second, and on every event).
            const key = JSON.stringify(items.map((item) => [item.jid, item.name, item.unread, item.last_activity_at,
                // An offline contact's "last seen" is set in place on hover (a redraw would drop the tooltip).
                item.kind === 'chat' ? (livePresence(item.jid)?.online ? presenceText(livePresence(item.jid)) : 'offline')
                    : item.appointment_status,
                timeLabel(item.last_activity_at)]));
            if (root.dataset.key === key && root.querySelector('.dt-conversation-list')) return;
            root.dataset.key = key;
            const list = el('ul', { class: 'dt-conversation-list' });
            for (const item of items) {
                let dot, lines, tooltip;
                if (item.kind === 'chat') {
                    const presence = livePresence(item.jid);
                    const text = presence ? presenceText(presence) : 'offline';
                    dot = el('span', { class: `dt-dot dt-dot--${dotClass(presence)}`, title: text });
                    lines = [item.name, item.role];
                    tooltip = `${item.name} · ${text}`;
                } else {
                    // The room's name ("Colour consultation · Cathy Customer · Fri 04 Dec 12:18 UTC") does not
                    // fit the column: the service, then the customer and the date, each on a line of its own;
                    // the whole name on hover.
                    dot = el('span', { class: 'dt-room-icon', title: 'Appointment chat' }, '#');
                    const when = [dateLabel(item.starts_at), item.audience === 'owner' ? 'owners only' : '',
                                  item.appointment_status === 'cancelled' ? 'cancelled' : ''].filter(Boolean).join(' · ');
                    lines = item.service
                        ? [item.service, item.customer_name !== me.name ? item.customer_name : '', when]
                        : [item.name, when || 'Appointment chat'];
                    tooltip = item.name;
                }
                const badge = item.unread ? el('span', { class: 'dt-unread', title: `${item.unread} unread` }, item.unread) : '';
                list.append(el('li', {
                    class: `dt-conversation dt-conversation--${item.kind}`, 'data-jid': item.jid, title: tooltip,
                    onclick: () => openConversation(item),
                    onmouseenter: item.kind === 'chat' ? (event) => showLastSeen(item, event.currentTarget) : undefined,
                }, dot, el('span', { class: 'dt-conversation-text' },
                    el('span', { class: 'dt-conversation-name' }, lines[0]),
                    ...lines.slice(1).filter(Boolean).map((line) => el('span', { class: 'dt-conversation-sub' }, line))),
                el('span', { class: 'dt-conversation-meta' },
                    el('span', { class: 'dt-conversation-time' }, timeLabel(item.last_activity_at)), badge)));
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
        // Converse 14 answers markers but never shows a read state. We keep the peer's latest 'displayed'
        // per chat: everything of ours up to the marked message is read. Live markers land here; those sent
        // while this page was closed come from the archive (OwnArchive.apply) or, kept offline by the
        // server, at login (OwnArchive.markerSeen).
        function onMarker(stanza) {
            const displayed = childNS(stanza, MARKERS, 'displayed');
            if (!displayed || stanza.getAttribute('type') === 'groupchat') return true;
            const peer = Strophe.getBareJidFromJid(stanza.getAttribute('from'));
            if (peer === Strophe.getBareJidFromJid(api.connection.get().jid)) return true;  // our own, carbon-copied
            const id = displayed.getAttribute('id');
            const box = _converse.state?.chatboxes?.get(peer);
            const message = box?.messages?.find((m) => m.get('msgid') === id || m.get('origin_id') === id);
            const stamp = childNS(stanza, DELAY, 'delay')?.getAttribute('stamp');
            if (archive.markerSeen(peer, id, message?.get('time'), stamp)) decorate();
            return true;
        }

        // The time up to which our messages to `peer` are read, on the clock of the messages shown.
        function readCutoff(peer, box) {
            const readBy = archive.readBy.get(peer);
            if (!readBy) return null;
            const marked = box?.messages?.find((m) => m.get('msgid') === readBy.id || m.get('origin_id') === readBy.id);
            return Date.parse(marked?.get('time') || readBy.time);
        }

        // ----------------------------------------------------------------- decorations of chat views
        // The line sits in the heading's text block, under the contact's name.
        async function decorateHeading(view) {
            const jid = view.getAttribute('jid') || view.model?.get('jid');
            const heading = view.querySelector('.chatbox-title__text');
            if (!jid || !heading) return;
            const text = await presenceLine(jid);
            let line = heading.querySelector('.dt-presence-line');
            if (!line) {
                line = el('div', { class: 'dt-presence-line' });
                heading.append(line);
            }
            if (line.textContent !== text) line.textContent = text;
        }

        // One mark per message of ours: Converse's own check (drawn on every one-to-one message once
        // `received` is set, also on incoming ones) is hidden by the CSS; ours says sent, delivered or read.
        function decorateOneToOne(view) {
            const jid = view.getAttribute('jid') || view.model?.get('jid');
            const cutoff = readCutoff(jid, view.model);
            for (const node of view.querySelectorAll('converse-chat-message')) {
                const model = node.model;
                if (!model || model.get('sender') !== 'me' || model.get('type') === 'groupchat') continue;
                const read = cutoff !== null && Date.parse(model.get('time')) <= cutoff;
                const tickState = read ? 'read' : model.get('received') ? 'delivered' : 'sent';
                const body = node.querySelector('.chat-msg__body--wrapper') || node.querySelector('.chat-msg__body') ||
                    node.querySelector('.chat-msg__content');
                if (!body) continue;
                let tick = node.querySelector('.dt-tick');
                if (!tick || tick.parentNode !== body) {
                    tick?.remove();
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
                if (state.mounted) renderList();
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

        // Handlers live on the connection: added again after a reconnection.
        let handlers = [];
        function addHandlers() {
            const connection = api.connection.get();
            for (const handler of handlers) connection.deleteHandler(handler);
            handlers = [connection.addHandler(onMarker, MARKERS, 'message'), connection.addHandler(onPresence, null, 'presence')];
        }

        api.listen.on('connected', async () => {
            addHandlers();
            state.mounted = true;
            await refreshList();
            await archive.read();
            await renderWhenDrawn();
            document.body.classList.add('dt-ready');
        });
        api.listen.on('reconnected', async () => { addHandlers(); await refreshList(); await archive.read(); renderList(); });
        api.listen.on('contactPresenceChanged', (contact) => {
            state.presence.delete(contact?.get?.('jid'));
            renderList();
        });
        api.listen.on('message', (data) => {
            // A text or a marker is in the archive by now (Prosody archives before it delivers); chat states are not.
            const attrs = data?.attrs || {};
            if (attrs.type !== 'groupchat' && (attrs.body || attrs.is_marker)) archive.readSoon();
            setTimeout(() => { renderList(); decorate(); }, 200);
        });
        api.listen.on('sendMessage', () => { archive.readSoon(); setTimeout(renderList, 200); });
        api.listen.on('chatBoxViewInitialized', () => setTimeout(decorate, 100));
        setInterval(decorate, DECORATE_MS);
        setInterval(refreshList, LIST_REFRESH_MS);
    },
});
