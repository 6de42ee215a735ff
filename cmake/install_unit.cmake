# Runs at install time (cmake --install, make install): writes the systemd unit
# with ExecStart pointing at <install prefix>/<bindir>/autocert, then installs
# it. Set beforehand by the top CMakeLists.txt: AUTOCERT_UNIT_SRC (the unit in
# docs/), AUTOCERT_UNIT_TMP (a scratch file named autocert.service), AUTOCERT_UNIT_BINDIR and
# AUTOCERT_UNIT_DIR (relative to the prefix, or absolute).
if(IS_ABSOLUTE "${AUTOCERT_UNIT_BINDIR}")
  set(_autocert_bin "${AUTOCERT_UNIT_BINDIR}/autocert")
else()
  set(_autocert_bin "${CMAKE_INSTALL_PREFIX}/${AUTOCERT_UNIT_BINDIR}/autocert")
endif()
if(IS_ABSOLUTE "${AUTOCERT_UNIT_DIR}")
  set(_autocert_unit_dir "${AUTOCERT_UNIT_DIR}")
else()
  set(_autocert_unit_dir "${CMAKE_INSTALL_PREFIX}/${AUTOCERT_UNIT_DIR}")
endif()
file(READ "${AUTOCERT_UNIT_SRC}" _autocert_unit)
if(NOT _autocert_unit MATCHES "\nExecStart=[^ \n]*/autocert ")
  message(FATAL_ERROR "${AUTOCERT_UNIT_SRC}: no 'ExecStart=<path>/autocert ' line to rewrite")
endif()
string(REGEX REPLACE "\nExecStart=[^ \n]*/autocert " "\nExecStart=${_autocert_bin} "
       _autocert_unit_new "${_autocert_unit}")
# AUTOCERT_UNIT_TMP ends in /autocert.service: file(INSTALL) keeps the name
file(WRITE "${AUTOCERT_UNIT_TMP}" "${_autocert_unit_new}")
file(INSTALL DESTINATION "${_autocert_unit_dir}" TYPE FILE PERMISSIONS
     OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES "${AUTOCERT_UNIT_TMP}")
