%%% dotimely-chat: a push-enabled phone that sleeps is shown gone after the hibernation time, last seen when its
%%% connection was lost, and a client cannot date its own last seen. The ejabberd 23.01 twin of
%%% prosody_modules/mod_dotimely_presence.lua; read in 23.01's ejabberd_c2s, mod_stream_mgmt, mod_push and
%%% mod_push_keepalive:
%%%
%%% 1. The component takes a `<delay from='<domain>'>` on an unavailable presence as the last seen. ejabberd
%%%    passes a client's own <delay> through, so we remove every <delay> from a user's broadcast presence at
%%%    user_send_packet (sequence 10: before mod_privilege, 50, forwards it to the component, and before
%%%    ejabberd_c2s keeps it as the session's presence and sends it to the contacts).
%%% 2. A session with stream management whose connection is lost goes `pending` (c2s_session_pending) for
%%%    mod_stream_mgmt's resume_timeout; for a push-enabled one (XEP-0357, `push_enabled` in the c2s state)
%%%    mod_push_keepalive raises that to 72 h, so the phone stays in its rooms and is woken for their messages,
%%%    and ejabberd keeps showing it available all that time. After `hibernation` seconds (xmpp.session_
%%%    hibernation) we show it gone: an unavailable presence stamped with the cut (<delay from='<domain>'>)
%%%    to the person's contacts subscribed to them (the component is one of them on ejabberd), nothing else
%%%    of the session touched (its presence, rooms, queue, pushes). Probes (the component's after each of its
%%%    connections, a contact's at login) and presence re-sends are answered the same way while it sleeps.
%%%    When the phone resumes (c2s_session_resumed, in the process that took the session over:
%%%    c2s_copy_session carries our mark), its presence goes to those contacts again.
-module(mod_dotimely_presence).

-behaviour(gen_mod).

-export([start/2, stop/1, reload/3, depends/2, mod_opt_type/1, mod_options/1, mod_doc/0]).
-export([user_send_packet/1, c2s_session_pending/1, c2s_handle_info/2, c2s_copy_session/2,
         c2s_session_resumed/1]).

-include("xmpp.hrl").
-include_lib("kernel/include/logger.hrl").

-define(SEQUENCE, 10).       % user_send_packet: before mod_privilege (50)
-define(PENDING_SEQUENCE, 40). % c2s_session_pending/_resumed/copy: beside mod_push(_keepalive) (50)
-define(INFO_SEQUENCE, 40).    % c2s_handle_info: before ejabberd_c2s's own process_info (100)
-define(TIMER, dotimely_sleep).      % c2s state: {TimerRef, Since} of the pending push-enabled session
-define(SHOWN_GONE, dotimely_shown_gone). % c2s state: Since (erlang:timestamp()), once shown gone

start(Host, _Opts) ->
    ejabberd_hooks:add(user_send_packet, Host, ?MODULE, user_send_packet, ?SEQUENCE),
    ejabberd_hooks:add(c2s_session_pending, Host, ?MODULE, c2s_session_pending, ?PENDING_SEQUENCE),
    ejabberd_hooks:add(c2s_handle_info, Host, ?MODULE, c2s_handle_info, ?INFO_SEQUENCE),
    ejabberd_hooks:add(c2s_copy_session, Host, ?MODULE, c2s_copy_session, ?PENDING_SEQUENCE),
    ejabberd_hooks:add(c2s_session_resumed, Host, ?MODULE, c2s_session_resumed, ?PENDING_SEQUENCE),
    ok.

stop(Host) ->
    ejabberd_hooks:delete(user_send_packet, Host, ?MODULE, user_send_packet, ?SEQUENCE),
    ejabberd_hooks:delete(c2s_session_pending, Host, ?MODULE, c2s_session_pending, ?PENDING_SEQUENCE),
    ejabberd_hooks:delete(c2s_handle_info, Host, ?MODULE, c2s_handle_info, ?INFO_SEQUENCE),
    ejabberd_hooks:delete(c2s_copy_session, Host, ?MODULE, c2s_copy_session, ?PENDING_SEQUENCE),
    ejabberd_hooks:delete(c2s_session_resumed, Host, ?MODULE, c2s_session_resumed, ?PENDING_SEQUENCE),
    ok.

reload(_Host, _NewOpts, _OldOpts) ->
    ok. % options are read when a session goes pending

depends(_Host, _Opts) ->
    [{mod_roster, hard}, {mod_stream_mgmt, soft}, {mod_push, soft}].

mod_opt_type(hibernation) -> econf:pos_int().

mod_options(_Host) ->
    [{hibernation, 45}].

mod_doc() ->
    #{desc => <<"dotimely-chat: sleeping phones shown gone, no client-made last seen "
                "(see the header of mod_dotimely_presence.erl).">>}.

%% ------------------------------------------------------------------------------- 1. no client's <delay>
-spec user_send_packet({stanza(), ejabberd_c2s:state()}) -> {stanza(), ejabberd_c2s:state()}.
user_send_packet({#presence{type = T, from = #jid{luser = U, lserver = S},
                            to = #jid{luser = U, lserver = S, lresource = <<>>}} = Pres, State})
  when T == available; T == unavailable ->
    {xmpp:remove_subtag(Pres, #delay{stamp = {0, 0, 0}}), State};
user_send_packet(Acc) ->
    Acc.

%% ------------------------------------------------------------------------------- 2. sleeping phones
-spec c2s_session_pending(ejabberd_c2s:state()) -> ejabberd_c2s:state().
c2s_session_pending(#{push_enabled := true, pres_last := _, lserver := LServer} = State) ->
    Seconds = gen_mod:get_module_opt(LServer, ?MODULE, hibernation),
    TRef = erlang:start_timer(timer:seconds(Seconds), self(), ?TIMER),
    State#{?TIMER => {TRef, erlang:timestamp()}};
c2s_session_pending(State) ->
    State.

-spec c2s_handle_info(ejabberd_c2s:state(), term()) -> ejabberd_c2s:state() | {stop, ejabberd_c2s:state()}.
c2s_handle_info(#{?TIMER := {TRef, Since}, mgmt_state := pending, pres_last := _, jid := JID} = State,
                {timeout, TRef, ?TIMER}) ->
    ?LOG_INFO("~ts sleeps (push enabled) since ~ts: shown gone, its session kept",
              [jid:encode(JID), xmpp_util:encode_timestamp(Since)]),
    tell_watchers(State, gone(State, Since)),
    {stop, maps:remove(?TIMER, State#{?SHOWN_GONE => Since})};
c2s_handle_info(State, {timeout, _TRef, ?TIMER}) ->
    {stop, maps:remove(?TIMER, State)}; % resumed or ended meanwhile
c2s_handle_info(#{?SHOWN_GONE := Since, jid := JID} = State, {route, #presence{type = probe, from = From}}) ->
    case is_watcher(State, From) of
        true -> ejabberd_router:route(xmpp:set_to(gone(State, Since), From));
        false -> ok
    end,
    ?LOG_DEBUG("Probe from ~ts to the sleeping ~ts answered unavailable", [jid:encode(From), jid:encode(JID)]),
    {stop, State};
c2s_handle_info(#{?SHOWN_GONE := Since} = State, {resend_presence, To}) ->
    case To of
        undefined -> tell_watchers(State, gone(State, Since));
        #jid{} -> ejabberd_router:route(xmpp:set_to(gone(State, Since), To))
    end,
    {stop, State};
c2s_handle_info(State, _Info) ->
    State.

-spec c2s_copy_session(ejabberd_c2s:state(), ejabberd_c2s:state()) -> ejabberd_c2s:state().
c2s_copy_session(State, #{?SHOWN_GONE := Since}) ->
    State#{?SHOWN_GONE => Since};
c2s_copy_session(State, _OldState) ->
    State.

-spec c2s_session_resumed(ejabberd_c2s:state()) -> ejabberd_c2s:state().
c2s_session_resumed(#{?SHOWN_GONE := _, pres_last := Pres, jid := JID} = State) ->
    ?LOG_INFO("~ts resumed its session: shown available again", [jid:encode(JID)]),
    tell_watchers(State, Pres),
    maps:remove(?SHOWN_GONE, maps:remove(?TIMER, State));
c2s_session_resumed(State) ->
    maps:remove(?SHOWN_GONE, maps:remove(?TIMER, State)).

%% The unavailable presence of the session, stamped by the server with when its connection was lost.
-spec gone(ejabberd_c2s:state(), erlang:timestamp()) -> presence().
gone(#{jid := JID, lserver := LServer}, Since) ->
    #presence{type = unavailable, from = JID, sub_els = [#delay{stamp = Since, from = jid:make(LServer)}]}.

%% What ejabberd would broadcast, sent only to the contacts subscribed to the person (subscription from or
%% both; the component is one). Directed presences (rooms) are not sent, nor the person's own sessions (the
%% sleeping one would queue it).
-spec tell_watchers(ejabberd_c2s:state(), presence()) -> ok.
tell_watchers(#{jid := JID} = State, Pres) ->
    lists:foreach(fun(To) -> ejabberd_router:route(xmpp:set_from_to(Pres, JID, To)) end, subscribers(State)).

-spec subscribers(ejabberd_c2s:state()) -> [jid()].
subscribers(#{jid := #jid{luser = LUser, lserver = LServer}}) ->
    [Contact || #roster_item{jid = Contact, subscription = Sub}
                    <- ejabberd_hooks:run_fold(roster_get, LServer, [], [{LUser, LServer}]),
                Sub == both orelse Sub == from].

%% May `From` learn the person's presence: a contact subscribed to it, or one of the person's own sessions.
-spec is_watcher(ejabberd_c2s:state(), jid()) -> boolean().
is_watcher(#{jid := #jid{luser = U, lserver = S}}, #jid{luser = U, lserver = S}) ->
    true;
is_watcher(State, From) ->
    Bare = jid:tolower(jid:remove_resource(From)),
    lists:any(fun(Contact) -> jid:tolower(Contact) == Bare end, subscribers(State)).
