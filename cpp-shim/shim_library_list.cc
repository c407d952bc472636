// Where this library stands in Kea's hooks-libraries list.
#include "kea_compat.h" // first: Kea's config.h, the release built against
#include "shim_library_list.h"

#include <hooks/hooks_manager.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <cstring>

namespace isc {
namespace cloudstack {

namespace {

std::string realPath(const std::string& path) {
    char resolved[PATH_MAX];
    return realpath(path.c_str(), resolved) ? std::string(resolved) : path;
}

} // namespace

std::string thisLibraryPath() {
    Dl_info info;
    std::memset(&info, 0, sizeof(info));
    if (dladdr(reinterpret_cast<void*>(&thisLibraryPath), &info) == 0 || !info.dli_fname) {
        return std::string();
    }
    return info.dli_fname;
}

std::vector<std::string> loadedLibraries() {
    return isc::hooks::HooksManager::getLibraryNames();
}

std::size_t entryOfThisLibrary(const std::vector<std::string>& libraries, const std::string& path) {
    if (path.empty()) {
        return libraries.size();
    }
    const std::string real = realPath(path);
    for (std::size_t i = 0; i < libraries.size(); ++i) {
        if (libraries[i] == path || realPath(libraries[i]) == real) {
            return i;
        }
    }
    return libraries.size();
}

} // namespace cloudstack
} // namespace isc
