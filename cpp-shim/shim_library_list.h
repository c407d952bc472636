// Where this library stands in Kea's hooks-libraries list (Kea calls each hook point's callouts
// in the order of that list).
#ifndef KEA_CLOUDSTACK_SHIM_LIBRARY_LIST_H
#define KEA_CLOUDSTACK_SHIM_LIBRARY_LIST_H

#include <cstddef>
#include <string>
#include <vector>

namespace isc {
namespace cloudstack {

/// The path Kea opened this library under (dlopen's name, as its library list holds it); "" when
/// the loader cannot say.
std::string thisLibraryPath();

/// The libraries Kea has loaded for the current configuration, in their order.
std::vector<std::string> loadedLibraries();

/// This library's entry in `libraries`: the entry named `path`, or one whose real path is this
/// library's. `libraries.size()` when none is.
std::size_t entryOfThisLibrary(const std::vector<std::string>& libraries, const std::string& path);

} // namespace cloudstack
} // namespace isc

#endif
