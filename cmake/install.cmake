# cmake/install.cmake — how an installed tree finds its own parts, wherever it is installed
# (`cmake --install build --prefix P`, an unpacked .deb). Included before the targets are
# declared, so that the settings below become their defaults.

# Installed executables find libcpclient next door: <prefix>/bin/../lib (the build tree keeps
# CMake's absolute build RPATH). Plugins get no RPATH (cmake/package.cmake clears theirs).
if(NOT IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(CMAKE_INSTALL_RPATH "\$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
endif()

# cpd finds its plugins relative to its own binary (core/plugin_loader.c plugin_default_dir):
# this is the path from <bindir> to <libdir>/cp/plugins, e.g. ../lib/cp/plugins.
file(RELATIVE_PATH CP_PLUGIN_DIR_FROM_BINDIR "${CMAKE_INSTALL_FULL_BINDIR}"
  "${CMAKE_INSTALL_PREFIX}/${CP_PLUGIN_INSTALL_DIR}")

# The web dashboard's files (ui/) likewise: <datadir>/cp/ui, found from <bindir> (core/http/ui.c).
set(CP_UI_INSTALL_DIR ${CMAKE_INSTALL_DATADIR}/cp/ui)
file(RELATIVE_PATH CP_UI_DIR_FROM_BINDIR "${CMAKE_INSTALL_FULL_BINDIR}"
  "${CMAKE_INSTALL_PREFIX}/${CP_UI_INSTALL_DIR}")

# Directories created by the install are rwxr-xr-x whatever the umask: cpd refuses plugin
# directories that others can write to.
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
