# cmake/package.cmake — what `cmake --install` adds for running cpd as a service (the systemd
# unit, a default configuration) and `cpack -G DEB` (one .deb: cpd, plugins, cpctl, the SDK,
# the unit). Included after every target is declared.

# Plugins live in <libdir>/cp/plugins and need no RPATH (cmake/install.cmake sets one for
# executables).
get_property(cp_plugin_targets GLOBAL PROPERTY CP_PLUGIN_TARGETS)
if(cp_plugin_targets)
  set_target_properties(${cp_plugin_targets} PROPERTIES INSTALL_RPATH "")
endif()

# The unit and the configuration name absolute paths that are known only at install time (the
# prefix given to `cmake --install --prefix`, /usr inside the .deb), so a script writes them
# then: <prefix>/lib/systemd/system/cpd.service and <sysconfdir>/cpd/cpd.yaml, where sysconfdir
# is /etc for the /usr prefix and <prefix>/etc otherwise (as GNUInstallDirs decides).
install(CODE "
  set(CP_PACKAGING_DIR \"${PROJECT_SOURCE_DIR}/packaging\")
  set(CP_STAGING_DIR \"${PROJECT_BINARY_DIR}/packaging\")
  set(CP_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/install_service.cmake\")")

set(CPACK_PACKAGE_NAME cpd)
set(CPACK_PACKAGE_VENDOR cpd)
set(CPACK_PACKAGE_CONTACT "cpd maintainers" CACHE STRING "Maintainer field of the .deb")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "control plane for fleets of AI agents")
set(CPACK_PACKAGE_DESCRIPTION "cpd keeps a registry of AI agents (capabilities, heartbeats,
health probes, circuit breakers) and hands them tasks from a priority queue with capability
matching, long-polling claims, retries and timeouts, over a REST/JSON API. Includes the bundled
storage, selection and probe plugins, cpctl, the plugin and client SDK (headers, libcpclient,
pkg-config and CMake files) and a systemd unit.")
set(CPACK_GENERATOR DEB)
# Install with DESTDIR into the staging tree, so that the install-time script above sees the
# package's real prefix (/usr) and writes /etc/cpd/cpd.yaml.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# A shlibs file and the ldconfig trigger for libcpclient.so.0.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${PROJECT_SOURCE_DIR}/packaging/debian/conffiles;${PROJECT_SOURCE_DIR}/packaging/debian/postinst;${PROJECT_SOURCE_DIR}/packaging/debian/prerm;${PROJECT_SOURCE_DIR}/packaging/debian/postrm;${PROJECT_SOURCE_DIR}/packaging/debian/triggers")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
