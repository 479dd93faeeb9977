# relua_exe.cmake: the `relua` executable (lua.c's options, script runner and
# REPL, with the relua module preloaded). include()d from lua/CMakeLists.txt,
# after the relua_lua library target exists.

add_executable(relua ${CMAKE_CURRENT_LIST_DIR}/relua.c ${CMAKE_CURRENT_LIST_DIR}/lrepl.c)
target_include_directories(relua PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(relua PRIVATE relua_lua relua_static PkgConfig::LUA)
# build/relua, not build/lua/relua: that is the directory of the relua/core.so module.
set_target_properties(relua PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

# GNU readline is optional: without it the REPL reads plain lines (no editing,
# history or completion), as lua.c does without LUA_USE_READLINE.
if(RELUA_USE_READLINE)
  pkg_check_modules(READLINE IMPORTED_TARGET readline)
  if(READLINE_FOUND)
    target_link_libraries(relua PRIVATE PkgConfig::READLINE)
    target_compile_definitions(relua PRIVATE RELUA_USE_READLINE)
  else()
    find_path(READLINE_INCLUDE_DIR readline/readline.h)
    find_library(READLINE_LIBRARY readline)
    if(READLINE_INCLUDE_DIR AND READLINE_LIBRARY)
      target_include_directories(relua PRIVATE ${READLINE_INCLUDE_DIR})
      target_link_libraries(relua PRIVATE ${READLINE_LIBRARY})
      target_compile_definitions(relua PRIVATE RELUA_USE_READLINE)
    else()
      message(WARNING "readline not found: the relua REPL will have no line editing, history or completion")
    endif()
  endif()
endif()

install(TARGETS relua RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
