/* conf.h: build-wide constants and macros of librelua (the luaconf.h of relua). */
#ifndef RELUA_CONF_H
#define RELUA_CONF_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(RELUA_BUILD_SHARED)
#define RL_API __declspec(dllexport)
#elif defined(__GNUC__)
#define RL_API __attribute__((visibility("default")))
#else
#define RL_API
#endif

/* A tensor has at most this many dimensions (inline shape/stride arrays). */
#define RL_MAX_DIMS 8

/* Internal invariants only, never user errors: those return a status. */
#ifdef NDEBUG
#define rl_assert(c) ((void)0)
#else
#include <stdio.h>
#define rl_assert(c)                                                           \
  ((c) ? (void)0                                                               \
       : (void)(fprintf(stderr, "%s:%d: relua internal assertion '%s'\n",      \
                        __FILE__, __LINE__, #c)))
#endif

#endif
