# cmake/ui.cmake — the web dashboard (ui/: plain HTML/CSS/JavaScript, no build step): copied next
# to cpd in the build tree (<build>/ui, where core/http/ui.c looks first) and installed to
# <datadir>/cp/ui.
file(GLOB CP_UI_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/ui/*.html
  ${PROJECT_SOURCE_DIR}/ui/*.css ${PROJECT_SOURCE_DIR}/ui/*.js
  ${PROJECT_SOURCE_DIR}/ui/*.svg)
set(cp_ui_outputs)
foreach(f ${CP_UI_FILES})
  get_filename_component(name ${f} NAME)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/ui/${name}
    COMMAND ${CMAKE_COMMAND} -E copy_if_different ${f} ${CMAKE_BINARY_DIR}/ui/${name}
    DEPENDS ${f} VERBATIM)
  list(APPEND cp_ui_outputs ${CMAKE_BINARY_DIR}/ui/${name})
endforeach()
add_custom_target(cp_ui ALL DEPENDS ${cp_ui_outputs})
install(FILES ${CP_UI_FILES} DESTINATION ${CP_UI_INSTALL_DIR})
