// Control commands, registered at load: Kea hands over the command, Rust writes the answer.
#include "kea_compat.h" // first: Kea's config.h, the release built against
#include "kea_cloudstack.h"
#include "shim_commands.h"
#include "shim_facts.h"
#include "shim_log.h"
#include "shim_stats.h"

#include <cc/command_interpreter.h>
#include <cc/data.h>
#include <hooks/hooks.h>
#include <stats/stats_mgr.h>

#include <exception>
#include <string>

using namespace isc::data;
using namespace isc::hooks;
using isc::stats::StatsMgr;

namespace {

const char* const COMMANDS[] = {"cloudstack-status", "cloudstack-lookup", "cloudstack-resync"};

int answerCommand(CalloutHandle& handle) {
    std::string name = "cloudstack";
    try {
        isc::cloudstack::applyDeferredStats();
        ConstElementPtr command;
        handle.getArgument("command", command);
        ConstElementPtr arguments;
        name = isc::config::parseCommand(arguments, command);
        const std::string json = arguments ? arguments->str() : std::string();
        char* answer = kc_command(isc::cloudstack::bytesOf(name), isc::cloudstack::bytesOf(json));
        if (!answer) {
            handle.setArgument("response", isc::config::createAnswer(isc::config::CONTROL_RESULT_ERROR,
                                                                     name + ": the hook is not loaded"));
            return 0;
        }
        std::string text(answer);
        kc_string_free(answer);
        // Kea reads the response back as ConstElementPtr; boost::any needs that exact type.
        ConstElementPtr response = Element::fromJSON(text);
        handle.setArgument("response", response);
    } catch (const std::exception& ex) {
        handle.setArgument("response", isc::config::createAnswer(isc::config::CONTROL_RESULT_ERROR,
                                                                 name + " failed: " + ex.what()));
    }
    return 0;
}

extern "C" int commandCallout(CalloutHandle& handle) {
    return answerCommand(handle);
}

// Kea's statistic commands that read (or reset) the hook's statistics. The hook hands its counts
// to StatsMgr in batches; these hand them over first and then answer with Kea's own handler, so an
// operator sees current numbers, and a reset counts from 0 as it does for Kea's own statistics.
typedef ConstElementPtr (*StatisticHandler)(const std::string&, const ConstElementPtr&);

struct StatisticCommand {
    const char* name;
    StatisticHandler handler;
};

const StatisticCommand STATISTIC_COMMANDS[] = {
    {"statistic-get", &StatsMgr::statisticGetHandler},
    {"statistic-get-all", &StatsMgr::statisticGetAllHandler},
    {"statistic-reset", &StatsMgr::statisticResetHandler},
    {"statistic-reset-all", &StatsMgr::statisticResetAllHandler},
};

extern "C" int statisticCallout(CalloutHandle& handle) {
    std::string name = "statistic";
    try {
        isc::cloudstack::applyDeferredStats();
        kc_stats_flush();
        ConstElementPtr command;
        handle.getArgument("command", command);
        ConstElementPtr arguments;
        name = isc::config::parseCommand(arguments, command);
        for (const StatisticCommand& known : STATISTIC_COMMANDS) {
            if (name == known.name) {
                handle.setArgument("response", known.handler(name, arguments));
                return 0;
            }
        }
        handle.setArgument("response", isc::config::createAnswer(isc::config::CONTROL_RESULT_COMMAND_UNSUPPORTED,
                                                                 "'" + name + "' command not supported."));
    } catch (const std::exception& ex) {
        handle.setArgument("response", isc::config::createAnswer(isc::config::CONTROL_RESULT_ERROR,
                                                                 name + " failed: " + ex.what()));
    }
    return 0;
}

} // namespace

namespace isc {
namespace cloudstack {

void registerCommands(LibraryHandle& handle) {
    for (const char* command : COMMANDS) {
        handle.registerCommandCallout(command, commandCallout);
    }
    for (const StatisticCommand& command : STATISTIC_COMMANDS) {
        handle.registerCommandCallout(command.name, statisticCallout);
    }
}

} // namespace cloudstack
} // namespace isc
