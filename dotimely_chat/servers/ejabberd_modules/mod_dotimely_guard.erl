%%% dotimely-chat: one-to-one stanzas between users follow the roster the component manages, and a refused
%%% message is answered with an error the sender's client shows beside it (Gajim, Conversations). The
%%% ejabberd 23.01 twin of prosody_modules/mod_dotimely_guard.lua; read from the 23.01 beams (debug info):
%%%
%%% 1. mod_block_strangers (23.01) checks only messages with a body or subject, at user_receive_packet (once
%%%    per receiving session, after mod_mam gave the message a stanza-id at sm_receive_packet 50), answers
%%%    modify/policy-violation with its own text, lets any sender in the roster with any subscription (even a
%%%    pending ask) through, and does not look at IQs. We decide first, at sm_receive_packet (priority 10,
%%%    once per routed stanza, before mod_mam, offline storage and every session): a refused message is
%%%    dropped whatever it carries (receipts, markers and chat states too) and a person's client is told
%%%    cancel/not-allowed with our text, once, for a message with a body. mod_block_strangers stays behind us.
%%%    It also lets every error message through, body and all; a stranger's is dropped here, never answered.
%%%    Our own refusal comes from the stranger the message was for: it carries a meta mark to pass us.
%%% 2. There is no groupchat exception to lean on: a message of type='groupchat' to a user is legitimate only
%%%    from the MUC service (`groupchat_senders`). Routed to a bare JID, a groupchat message would be bounced
%%%    without a word by ejabberd_sm; we answer it like any other refused message.
%%% 3. Last activity (XEP-0012) of a user is told only to those subscribed to the user's presence; mod_last
%%%    answers everyone else subscription-required, Prosody auth/forbidden: we answer forbidden first. IQs to a
%%%    user's full JID (Jingle, in-band bytestreams, version...) from strangers get cancel/service-unavailable,
%%%    as Prosody's mod_block_strangers answers them.
%%% 4. Presence subscriptions between users: once a customer approves a staff member's request (one click in
%%%    Conversations or Gajim) they would be roster contacts and chat directly. The component manages every
%%%    roster, so a user's subscribe/subscribed to a local user is dropped at user_send_packet, before
%%%    ejabberd_c2s turns it into a roster change (roster_out_subscription).
%%%
%%% Who passes: the recipient's own JIDs; the senders of the `access` rule (the component and the rooms, as
%%% mod_block_strangers' `access`); the server's own services (no user part: its pings and notices);
%%% contacts the recipient's roster has with subscription from or both (subscribed to the recipient). Unlike
%%% on Prosody, a directed presence from the recipient opens nothing (rooms pass through `access`).
-module(mod_dotimely_guard).

-behaviour(gen_mod).

-export([start/2, stop/1, reload/3, depends/2, mod_opt_type/1, mod_options/1, mod_doc/0]).
-export([sm_receive_packet/1, user_send_packet/1]).

-include("xmpp.hrl").
-include_lib("kernel/include/logger.hrl").

-define(SEQUENCE, 10). % before mod_mam (sm_receive_packet 50) and mod_block_strangers
-define(REFUSAL, dotimely_refusal). % meta of our own refusal errors

start(Host, _Opts) ->
    ejabberd_hooks:add(sm_receive_packet, Host, ?MODULE, sm_receive_packet, ?SEQUENCE),
    ejabberd_hooks:add(user_send_packet, Host, ?MODULE, user_send_packet, ?SEQUENCE),
    ok.

stop(Host) ->
    ejabberd_hooks:delete(sm_receive_packet, Host, ?MODULE, sm_receive_packet, ?SEQUENCE),
    ejabberd_hooks:delete(user_send_packet, Host, ?MODULE, user_send_packet, ?SEQUENCE),
    ok.

reload(_Host, _NewOpts, _OldOpts) ->
    ok. % options are read per stanza

depends(_Host, _Opts) ->
    [{mod_roster, hard}]. % the subscriptions we read

mod_opt_type(groupchat_senders) -> econf:list(econf:domain());
mod_opt_type(access) -> econf:acl();
mod_opt_type(refusal_text) -> econf:binary().

mod_options(_Host) ->
    [{groupchat_senders, []},
     {access, none},
     {refusal_text, <<"This message was not delivered: staff and customers talk in the appointment chat.">>}].

mod_doc() ->
    #{desc => <<"dotimely-chat: the one-to-one rules (see the header of mod_dotimely_guard.erl).">>}.

%% ------------------------------------------------------------------------------------- routed to a user
-spec sm_receive_packet(stanza() | drop) -> stanza() | drop | {stop, drop}.
sm_receive_packet(#message{to = #jid{luser = <<>>}} = Msg) ->
    Msg;
sm_receive_packet(#message{type = error, meta = #{?REFUSAL := true}} = Msg) ->
    Msg; % ours, on its way to the sender: it comes from the stranger the message was for
sm_receive_packet(#message{type = error, from = From, to = To} = Msg) ->
    case may_reach(From, To) of
        true ->
            Msg;
        false -> % dropped, never answered with an error (no loops), as Prosody's mod_block_strangers does
            ?LOG_INFO("Dropping an error message from ~ts to ~ts (sender not subscribed to the recipient)",
                      [jid:encode(From), jid:encode(To)]),
            {stop, drop}
    end;
sm_receive_packet(#message{from = From, to = To, type = Type} = Msg) ->
    case message_refusal(From, To, Type) of
        pass -> Msg;
        Why -> refuse_message(Msg, Why)
    end;
sm_receive_packet(#iq{type = T, from = From, to = #jid{luser = U, lresource = R} = To} = IQ)
  when (T == get orelse T == set) andalso U /= <<>> ->
    if R /= <<>> ->
           guard_iq(IQ, From, To, xmpp:err_service_unavailable(), "an IQ to a full JID");
       T == get ->
           case xmpp:has_subtag(IQ, #last{}) of
               true -> guard_iq(IQ, From, To, xmpp:err_forbidden(), "last activity");
               false -> IQ
           end;
       true ->
           IQ
    end;
sm_receive_packet(Acc) ->
    Acc.

%% Why the message may not reach the user To, or pass.
-spec message_refusal(jid(), jid(), message_type()) -> pass | string().
message_refusal(From, To, groupchat) ->
    case lists:member(From#jid.lserver, gen_mod:get_module_opt(To#jid.lserver, ?MODULE, groupchat_senders)) of
        true -> pass;
        false -> "groupchat message not from the MUC service"
    end;
message_refusal(From, To, _Type) ->
    case may_reach(From, To) of
        true -> pass;
        false -> "sender not subscribed to the recipient"
    end.

-spec may_reach(jid(), jid()) -> boolean().
may_reach(#jid{luser = U, lserver = S}, #jid{luser = U, lserver = S}) ->
    true; % one's own other devices
may_reach(From, #jid{luser = LUser, lserver = LServer}) ->
    acl:match_rule(LServer, gen_mod:get_module_opt(LServer, ?MODULE, access), From) == allow
        orelse (From#jid.luser == <<>> andalso ejabberd_router:is_my_host(From#jid.lserver))
        orelse is_subscribed(LUser, LServer, From).

%% Is From subscribed to the presence of LUser@LServer (subscription from or both in the user's roster)?
-spec is_subscribed(binary(), binary(), jid()) -> boolean().
is_subscribed(LUser, LServer, From) ->
    {Subscription, _Ask, _Groups} =
        ejabberd_hooks:run_fold(roster_get_jid_info, LServer, {none, none, []}, [LUser, LServer, From]),
    Subscription == from orelse Subscription == both.

-spec refuse_message(message(), string()) -> {stop, drop}.
refuse_message(#message{from = From, to = To, type = Type, body = Body, lang = Lang} = Msg, Why) ->
    %% Only a person's client is told, and only about a message it shows (one with a body): receipts,
    %% markers and chat states are dropped quietly, as are stanzas from the rooms or the component.
    Told = Body /= [] andalso is_local_user(From),
    ?LOG_INFO("Refusing ~ts message from ~ts to ~ts (~ts)~ts",
              [Type, jid:encode(From), jid:encode(To), Why, if Told -> ", sender told"; true -> "" end]),
    if Told ->
           Text = gen_mod:get_module_opt(To#jid.lserver, ?MODULE, refusal_text),
           %% The error comes from the address the message was sent to (bare or full) and goes to the sending
           %% session, marked so that we let it through (errors from strangers are dropped otherwise).
           Error = xmpp:make_error(Msg, xmpp:err_not_allowed(Text, Lang)),
           ejabberd_router:route(xmpp:put_meta(Error, ?REFUSAL, true));
       true ->
           ok
    end,
    {stop, drop}. % not delivered, not stored offline, not archived

-spec guard_iq(iq(), jid(), jid(), stanza_error(), string()) -> iq() | {stop, drop}.
guard_iq(IQ, From, To, Error, What) ->
    case may_reach(From, To) of
        true ->
            IQ;
        false ->
            ?LOG_INFO("Refusing ~ts from ~ts to ~ts (sender not subscribed to the recipient)",
                      [What, jid:encode(From), jid:encode(To)]),
            ejabberd_router:route_error(IQ, Error),
            {stop, drop}
    end.

-spec is_local_user(jid()) -> boolean().
is_local_user(#jid{luser = <<>>}) -> false;
is_local_user(#jid{lserver = LServer}) -> ejabberd_router:is_my_host(LServer).

%% ------------------------------------------------------------------------------------- sent by a user
-spec user_send_packet({stanza(), ejabberd_c2s:state()}) ->
          {stanza(), ejabberd_c2s:state()} | {stop, {drop, ejabberd_c2s:state()}}.
user_send_packet({#presence{type = T, to = #jid{lserver = LServer} = To}, #{jid := JID} = State} = Acc)
  when T == subscribe; T == subscribed ->
    case ejabberd_router:is_my_host(LServer) of
        true ->
            ?LOG_INFO("Dropping ~ts presence from ~ts to ~ts: rosters are managed by the component",
                      [T, jid:encode(JID), jid:encode(To)]),
            {stop, {drop, State}};
        false ->
            Acc
    end;
user_send_packet(Acc) ->
    Acc.
