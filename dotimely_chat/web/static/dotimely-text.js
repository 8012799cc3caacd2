// Pure helpers of the DoTimely page: how times and presence read, and finding XML children by namespace.

export function timeLabel(iso) {
    if (!iso) return '';
    const date = new Date(iso);
    const today = new Date();
    const sameDay = date.toDateString() === today.toDateString();
    return sameDay ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
        : date.toLocaleDateString([], { day: 'numeric', month: 'short' }) + ' ' +
          date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// Strophe hands the page stanzas as XML elements: CSS selectors cannot name a namespace there
// (`[xmlns=…]` never matches, because xmlns is a namespace declaration, not an attribute), so children
// are found by namespace and local name.
export function childNS(element, namespace, name) {
    for (const node of element?.children || []) {
        if (node.namespaceURI === namespace && node.localName === name) return node;
    }
    return null;
}

export const SHOW_TEXT = { chat: 'online (free to chat)', away: 'online (away)', xa: 'online (away for a while)',
    dnd: 'online (busy)' };

export function idleLabel(since, now = Date.now()) {
    if (!since) return '';
    const minutes = Math.floor((now - Date.parse(since)) / 60000);
    if (!(minutes >= 1)) return '';
    if (minutes < 60) return `idle ${minutes} min`;
    if (minutes < 24 * 60) return `idle ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
    return `idle since ${timeLabel(since)}`;
}

// What a person reads about someone's presence: "online", "online (away) · idle 12 min · “At lunch”",
// "last seen 08:39" or "offline". `show` is RFC 6121's chat/away/xa/dnd, null for plain available.
export function presenceText({ online, show = null, idleSince = null, status = null, lastSeen = null }) {
    if (!online) return lastSeen ? `last seen ${timeLabel(lastSeen)}` : 'offline';
    return [SHOW_TEXT[show] || 'online', idleLabel(idleSince), status ? `“${status}”` : ''].filter(Boolean).join(' · ');
}

export function dateLabel(iso) {
    return iso ? new Date(iso).toLocaleString([], { weekday: 'short', day: 'numeric', month: 'short',
                                                    hour: '2-digit', minute: '2-digit' }) : '';
}
