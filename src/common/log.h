// One-line, levelled logging to stderr: "2026-11-21 22:40:01.123 INFO scheduler: message".
#pragma once

#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace tessera {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

/// Sets the process-wide threshold (default kInfo; TESSERA_LOG_LEVEL=debug|info|warning|error).
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
/// "debug", "info", "warning" (or "warn"), "error"; nullopt for anything else.
std::optional<LogLevel> ParseLogLevel(std::string_view name);
/// Sets the component name printed on every line ("scheduler", "worker", ...).
void SetLogComponent(std::string_view name);
/// Writes one line; thread-safe.
void LogLine(LogLevel level, std::string_view message);

}  // namespace tessera

#define TESSERA_LOG(level, ...)                                                   \
  do {                                                                            \
    if (::tessera::LogLevel::level >= ::tessera::GetLogLevel())                   \
      ::tessera::LogLine(::tessera::LogLevel::level, ::absl::StrCat(__VA_ARGS__)); \
  } while (0)
