// Starts the DoTimely chat page: checks the session first (Converse retries a failing credentials_url every
// 2 s forever, so a signed-out person would never see why), then loads the pinned Converse.js with our
// plugin and logs in with the credentials read through the page's HttpOnly cookie.

const settings = JSON.parse(document.getElementById('dotimely-settings').textContent);

function showMessage(body) {
    const title = body?.details?.title || 'Please open the chat from DoTimely';
    const text = body?.error || 'Open the chat again from the DoTimely app.';
    const main = document.getElementById('dt-main');
    const heading = document.createElement('h1');
    heading.id = 'dt-message-title';
    heading.textContent = title;
    const paragraph = document.createElement('p');
    paragraph.textContent = text;
    const box = document.createElement('div');
    box.className = 'dt-message';
    box.append(heading, paragraph);
    document.getElementById('conversejs')?.remove();
    main.replaceChildren(box);
    document.body.classList.add('dt-stopped');
}
window.dotimelyShowMessage = showMessage;

async function check(url) {
    const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    const body = await response.json().catch(() => ({}));
    return response.ok ? body : Promise.reject(body);
}

async function start() {
    let me;
    try {
        me = await check('/web/api/session');
        await check('/web/api/xmpp-credentials');
    } catch (body) {
        showMessage(body);
        return;
    }
    window.dotimelyMe = me;
    document.getElementById('dt-whoami').textContent = `${me.name} · ${me.business.name}`;
    document.getElementById('dt-notice')?.remove();
    document.getElementById('dt-main').append(document.createElement('converse-root'));
    document.body.classList.add('dt-running');
    // Converse 14's fullscreen footer shows sponsor logos from conversejs.org: an empty element of the same
    // name, defined first, keeps the page from asking for them (Converse skips names already defined).
    customElements.define('converse-footer', class extends HTMLElement {});
    await import(settings.assets_path + 'converse.min.js');
    await import('/web/static/dotimely-plugin.js');
    await import('/web/static/dotimely-leave.js');
    await import('/web/static/dotimely-markers.js');
    await import('/web/static/dotimely-bookmarks.js');
    await import('/web/static/dotimely-nodes.js');
    const mediaHosts = [settings.upload_host];
    window.converse.initialize({
        assets_path: settings.assets_path,
        i18n: 'en',
        websocket_url: settings.websocket_url,
        discover_connection_methods: false,
        authentication: 'login',
        auto_login: true,
        credentials_url: '/web/api/xmpp-credentials',
        reuse_scram_keys: false,
        jid: me.jid,
        nickname: me.name,
        view_mode: 'fullscreen',
        show_controlbox_by_default: true,
        theme: 'classic',
        dark_theme: 'classic',
        allow_registration: false,
        allow_logout: false,
        allow_contact_requests: false,
        allow_contact_removal: false,
        allow_adhoc_commands: false,
        allow_muc_invitations: false,
        allow_non_roster_messaging: false,
        auto_join_on_invite: true,
        show_self_in_roster: false,
        blacklisted_plugins: ['converse-omemo', 'converse-push', 'converse-register'],
        whitelisted_plugins: ['dotimely', 'dotimely-leave', 'dotimely-markers', 'dotimely-bookmarks', 'dotimely-nodes'],
        autocomplete_providers_url: '',
        muc_search_service: '',
        xhr_user_search_url: '/web/api/people?',
        show_client_info: false,
        play_sounds: false,
        visible_toolbar_buttons: { call: false, clear: false, emoji: true, location: false, spoiler: false },
        render_media: mediaHosts,
        allowed_image_domains: mediaHosts,
        allowed_video_domains: mediaHosts,
        allowed_audio_domains: mediaHosts,
        send_chat_markers: ['received', 'displayed', 'acknowledged'],
        loglevel: 'warn',
    });
}

start();
