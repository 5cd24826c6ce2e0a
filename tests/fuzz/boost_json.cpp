// Boost.JSON's implementation, compiled into the fuzz build (CMakeLists.txt,
// QUEUECAST_FUZZ): instrumented for coverage and sanitizers like our code.
#include <boost/json/src.hpp>
