%%% dotimely-chat: a room's read markers reach the room archive, as on Prosody (whose mod_muc_mam archives any
%%% groupchat message with a urn:xmpp:chat-markers:0 child). Read in ejabberd 23.01's sources:
%%%
%%% - mod_muc_room:process_groupchat_message runs the hook muc_filter_message on the room's *server host* (the
%%%   vhost, StateData#state.server_host, not the MUC host) with the message and [RoomState, FromNick], for
%%%   every groupchat message an occupant may send, before it is broadcast; `drop` drops it.
%%% - mod_mam hooks it at sequence 50 (muc_filter_message/3): it gives the message its stanza-id and archives
%%%   it when should_archive_muc/1 says so: a body, a subject, or a <store/> hint (XEP-0334); a no-store /
%%%   no-permanent-store hint excludes it. So a bodyless XEP-0333 marker without <store/> (what Gajim and
%%%   Converse send; Conversations adds the hint) gets no stanza-id and is lost to the component's back-fill.
%%%
%%% At sequence 40 we add <store/> to a groupchat message that carries a `received`, `displayed` or
%%% `acknowledged` marker and no storage hint of its own (a client's no-store wins, as on Prosody), and at 60,
%%% after mod_mam archived it, we take that hint off again: the occupants get what the client sent (plus the
%%% stanza-id), and nothing downstream (offline storage of a groupchat copy) sees a hint nobody wrote.
%%% XEP-0184 receipts and chat states are left alone (Prosody does not archive them either).
-module(mod_dotimely_markers).

-behaviour(gen_mod).

-export([start/2, stop/1, reload/3, depends/2, mod_options/1, mod_doc/0]).
-export([add_store_hint/3, remove_added_hint/3]).

-include("xmpp.hrl").
-include_lib("kernel/include/logger.hrl").

-define(BEFORE_MAM, 40). % mod_mam's muc_filter_message runs at 50
-define(AFTER_MAM, 60).
-define(ADDED, dotimely_store_hint_added). % meta: the <store/> is ours
-define(MARKERS, [<<"received">>, <<"displayed">>, <<"acknowledged">>]).

start(Host, _Opts) ->
    ejabberd_hooks:add(muc_filter_message, Host, ?MODULE, add_store_hint, ?BEFORE_MAM),
    ejabberd_hooks:add(muc_filter_message, Host, ?MODULE, remove_added_hint, ?AFTER_MAM),
    ok.

stop(Host) ->
    ejabberd_hooks:delete(muc_filter_message, Host, ?MODULE, add_store_hint, ?BEFORE_MAM),
    ejabberd_hooks:delete(muc_filter_message, Host, ?MODULE, remove_added_hint, ?AFTER_MAM),
    ok.

reload(_Host, _NewOpts, _OldOpts) ->
    ok.

depends(_Host, _Opts) ->
    [{mod_mam, soft}]. % the archive we feed; without it the hint does nothing

mod_options(_Host) ->
    [].

mod_doc() ->
    #{desc => <<"dotimely-chat: room read markers are archived (see the header of mod_dotimely_markers.erl).">>}.

-spec add_store_hint(message() | drop, term(), binary()) -> message() | drop.
add_store_hint(#message{type = groupchat} = Msg, _RoomState, FromNick) ->
    case has_marker(Msg) andalso not has_storage_hint(Msg) of
        true ->
            ?LOG_DEBUG("Adding a store hint to the room marker from ~ts to ~ts",
                       [FromNick, jid:encode(Msg#message.to)]),
            xmpp:put_meta(xmpp:append_subtags(Msg, [#hint{type = store}]), ?ADDED, true);
        false ->
            Msg
    end;
add_store_hint(Acc, _RoomState, _FromNick) ->
    Acc.

-spec remove_added_hint(message() | drop, term(), binary()) -> message() | drop.
remove_added_hint(#message{meta = #{?ADDED := true}} = Msg, _RoomState, _FromNick) ->
    xmpp:del_meta(xmpp:remove_subtag(Msg, #hint{type = store}), ?ADDED);
remove_added_hint(Acc, _RoomState, _FromNick) ->
    Acc.

%% A chat-markers child other than <markable/> (a markable message has a body: archived anyway). p1_xmpp 1.6.1
%% decodes only <markable/> of that namespace, so the markers are raw elements among the sub-elements.
-spec has_marker(message()) -> boolean().
has_marker(#message{sub_els = Els}) ->
    lists:any(fun(#xmlel{name = Name} = El) ->
                      lists:member(Name, ?MARKERS) andalso xmpp:get_ns(El) == ?NS_CHAT_MARKERS_0;
                 (_) ->
                      false
              end, Els).

-spec has_storage_hint(message()) -> boolean().
has_storage_hint(Msg) ->
    lists:any(fun(Type) -> xmpp:has_subtag(Msg, #hint{type = Type}) end,
              [store, 'no-store', 'no-storage', 'no-permanent-store', 'no-permanent-storage']).
