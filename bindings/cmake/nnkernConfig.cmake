# CMake package of nnkern, installed by bindings/cmake/install.sh as
# <prefix>/lib/cmake/nnkern/nnkernConfig.cmake. `find_package(nnkern CONFIG)` gives:
#
#   nnkern::nnkern_shared  <prefix>/lib/libnnkern.so (soname libnnkern.so.<major>.<minor>)
#   nnkern::nnkern_static  <prefix>/lib/libnnkern.a, with the system libraries a static link needs
#   nnkern::nnkern         the shared library, or the static one when NNKERN_STATIC is ON
#
# Headers: <prefix>/include/nnkern/nnkern.h (C) and nnkern.hpp (C++17 wrapper), found as
# #include <nnkern.h> / <nnkern.hpp>.

get_filename_component(_nnkern_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(nnkern_INCLUDE_DIRS "${_nnkern_prefix}/include/nnkern")

if(NOT TARGET nnkern::nnkern_shared)
  add_library(nnkern::nnkern_shared SHARED IMPORTED)
  set_target_properties(nnkern::nnkern_shared PROPERTIES
    IMPORTED_LOCATION "${_nnkern_prefix}/lib/libnnkern.so"
    INTERFACE_INCLUDE_DIRECTORIES "${nnkern_INCLUDE_DIRS}")

  add_library(nnkern::nnkern_static STATIC IMPORTED)
  set_target_properties(nnkern::nnkern_static PROPERTIES
    IMPORTED_LOCATION "${_nnkern_prefix}/lib/libnnkern.a"
    IMPORTED_LINK_INTERFACE_LANGUAGES "C"
    INTERFACE_INCLUDE_DIRECTORIES "${nnkern_INCLUDE_DIRS}"
    # `cargo rustc -- --print native-static-libs`, as the README lists them.
    INTERFACE_LINK_LIBRARIES "gcc_s;util;rt;pthread;m;dl;c")

  add_library(nnkern::nnkern INTERFACE IMPORTED)
  if(NNKERN_STATIC)
    set_target_properties(nnkern::nnkern PROPERTIES INTERFACE_LINK_LIBRARIES nnkern::nnkern_static)
  else()
    set_target_properties(nnkern::nnkern PROPERTIES INTERFACE_LINK_LIBRARIES nnkern::nnkern_shared)
  endif()
endif()

unset(_nnkern_prefix)
set(nnkern_FOUND TRUE)
