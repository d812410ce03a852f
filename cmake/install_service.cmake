# cmake/install_service.cmake — run by `cmake --install` (see cmake/package.cmake): writes the
# systemd unit with this install's paths and the default configuration, keeping a
# configuration that is already there (it may have been edited).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(cp_sysconfdir "/etc")
else()
  set(cp_sysconfdir "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(CPD_BINDIR "${CMAKE_INSTALL_PREFIX}/${CP_BINDIR}")
set(CPD_SYSCONFDIR "${cp_sysconfdir}")

# One generated unit per destination, so that concurrent installs do not share a file.
string(MD5 cp_dest_hash "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
set(cp_unit "${CP_STAGING_DIR}/${cp_dest_hash}/cpd.service")
configure_file("${CP_PACKAGING_DIR}/cpd.service.in" "${cp_unit}" @ONLY)
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
  FILES "${cp_unit}")

if(EXISTS "$ENV{DESTDIR}${cp_sysconfdir}/cpd/cpd.yaml")
  message(STATUS "Keeping: $ENV{DESTDIR}${cp_sysconfdir}/cpd/cpd.yaml")
else()
  file(INSTALL DESTINATION "${cp_sysconfdir}/cpd" TYPE FILE
    FILES "${CP_PACKAGING_DIR}/cpd.yaml")
endif()
