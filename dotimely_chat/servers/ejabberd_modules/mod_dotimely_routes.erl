%%% dotimely-chat: how many connections a component JID has, for the admin API
%%% (`dotimely_component_connections`).
%%%
%%% ejabberd 23.01 takes a second XEP-0114 connection of a component JID that is already connected
%%% (ejabberd_service registers one more route for it, and ejabberd_router spreads the JID's stanzas over
%%% the routes), where Prosody refuses it with <conflict/>. A second dotimely-chat on the same server would
%%% get part of the first one's stanzas: seen, the first one's ping answers went to the second, and the
%%% first dropped its link. The component asks this command before it connects and refuses to start when
%%% the JID is connected already. Routes are read from the router's backend (mnesia: the whole cluster),
%%% not its cache.
-module(mod_dotimely_routes).

-behaviour(gen_mod).

-export([start/2, stop/1, reload/3, depends/2, mod_options/1, mod_doc/0]).
-export([component_connections/1]).

-include_lib("ejabberd/include/ejabberd_commands.hrl").
-include_lib("ejabberd/include/ejabberd_router.hrl").

start(_Host, _Opts) ->
    ejabberd_commands:register_commands(?MODULE, commands()).

stop(Host) ->
    case gen_mod:is_loaded_elsewhere(Host, ?MODULE) of
        false -> ejabberd_commands:unregister_commands(commands());
        true -> ok
    end.

reload(_Host, _NewOpts, _OldOpts) ->
    ok.

depends(_Host, _Opts) ->
    [].

mod_options(_Host) ->
    [].

mod_doc() ->
    #{desc => <<"dotimely-chat: the number of connections of a component JID (see mod_dotimely_routes.erl).">>}.

commands() ->
    [#ejabberd_commands{name = dotimely_component_connections, tags = [internal],
                        desc = "How many XEP-0114 connections (routes) a component JID has",
                        module = ?MODULE, function = component_connections,
                        args = [{host, binary}], args_example = [<<"chat.example.com">>],
                        result = {connections, integer}, result_example = 1}].

-spec component_connections(binary()) -> non_neg_integer().
component_connections(Host) ->
    Backend = ejabberd_router:get_backend(),
    case Backend:find_routes(jid:nameprep(Host)) of
        {ok, Routes} -> length([R || #route{pid = Pid} = R <- Routes, is_pid(Pid)]);
        _ -> 0
    end.
