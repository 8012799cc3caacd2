%%% dotimely-chat: one XEP-0114 stream per component domain on a node; a new connection replaces the old.
%%%
%%% After a silent network cut the component gives its stream up and connects again, while the node's end of
%%% the old stream stays open until its TCP gives up (nothing of ours reaches it). ejabberd 23.01 (read from
%%% the 23.01 beams) then
%%% 1. takes the new stream beside the old one (ejabberd_service registers one route per stream) and routes
%%%    each stanza for the domain to a random one of them (ejabberd_router:balancing_route/4, no
%%%    domain_balancing): every other stanza for the component goes into the dead stream, the privilege
%%%    advertisement of the new stream too;
%%% 2. forgets the component's privileges when the old stream ends at last: mod_privilege keeps one grant per
%%%    component domain, and component_disconnected removes it whichever stream of the domain ended.
%%% So at component_connected (run in the new stream's process, before mod_privilege grants at sequence 50)
%%% we end every other stream of the domain on this node with a <conflict/> stream error and wait until it has
%%% gone (its route unregistered, its component_disconnected handled first). Streams on other nodes of a
%%% cluster are the component's other legitimate streams (one per node) and are left alone.
-module(mod_dotimely_component).

-behaviour(gen_mod).

-export([start/2, stop/1, reload/3, depends/2, mod_options/1, mod_doc/0]).
-export([component_connected/1]).

-include("xmpp.hrl").
-include_lib("kernel/include/logger.hrl").

-define(SEQUENCE, 10). % before mod_privilege (50)
-define(GONE_WITHIN, 5000). % ms for an old stream to end after our stream error, else it is killed
-define(REPLACED, <<"Replaced by a new connection of the component">>).

start(_Host, _Opts) ->
    ejabberd_hooks:add(component_connected, ?MODULE, component_connected, ?SEQUENCE), % a global hook
    ok.

stop(_Host) ->
    ejabberd_hooks:delete(component_connected, ?MODULE, component_connected, ?SEQUENCE),
    ok.

reload(_Host, _NewOpts, _OldOpts) ->
    ok.

depends(_Host, _Opts) ->
    [].

mod_options(_Host) ->
    [].

mod_doc() ->
    #{desc => <<"dotimely-chat: a new stream of a component replaces its older ones on this node (see the "
                "header of mod_dotimely_component.erl).">>}.

-spec component_connected(binary()) -> ok.
component_connected(Domain) ->
    Self = self(),
    Backend = ejabberd_router:get_backend(), % ejabberd_router's own find_routes/1 is not exported
    {ok, Routes} = Backend:find_routes(jid:nameprep(Domain)),
    Old = [Pid || {route, _Domain, _ServerHost, Pid, _Hint} <- Routes, % ejabberd_router.hrl's #route{}
                  is_pid(Pid), Pid /= Self, node(Pid) == node()],
    lists:foreach(fun(Pid) -> replace(Domain, Pid) end, Old).

-spec replace(binary(), pid()) -> ok.
replace(Domain, Pid) ->
    ?LOG_WARNING("A new stream of component ~ts replaces its older one ~p", [Domain, Pid]),
    Ref = erlang:monitor(process, Pid),
    xmpp_stream_in:send(Pid, xmpp:serr_conflict(?REPLACED, <<"en">>)),
    xmpp_stream_in:stop_async(Pid),
    receive
        {'DOWN', Ref, process, Pid, _} -> ok
    after ?GONE_WITHIN ->
        ?LOG_WARNING("The old stream ~p of component ~ts did not end within ~b ms; killing it",
                     [Pid, Domain, ?GONE_WITHIN]),
        exit(Pid, kill), % the router drops the route of a dead stream (it monitors them)
        receive {'DOWN', Ref, process, Pid, _} -> ok after ?GONE_WITHIN -> ok end
    end.
