// The boundary between C++ and PostgreSQL error handling.
//
// A PostgreSQL ERROR is a longjmp: jumping over a C++ frame with live
// destructors is undefined behaviour, and a C++ exception escaping into
// PostgreSQL kills the backend. So:
//   - pg_call(f) runs a thin lambda of PostgreSQL calls under PG_TRY and turns
//     an ERROR into a C++ pg_error, thrown only after PG_END_TRY. The lambda
//     must hold no objects with destructors.
//   - run_guarded(f) is used by every extern "C" entry point: it runs C++ code
//     and re-raises whatever it threw as a PostgreSQL ERROR once every C++
//     frame has been left.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include "pg.hpp"

namespace queuecast {

// A PostgreSQL error caught at the boundary, carried through C++ frames.
class pg_error : public std::exception {
 public:
  explicit pg_error(ErrorData* data) : data_(data) {}
  const char* what() const noexcept override { return data_ ? data_->message : "PostgreSQL error"; }
  ErrorData* release() noexcept { return std::exchange(data_, nullptr); }

 private:
  ErrorData* data_;  // palloc'd in the caller's memory context
};

// A C++-side failure with a SQLSTATE, raised as a PostgreSQL ERROR at the edge.
class capture_error : public std::exception {
 public:
  capture_error(int sqlstate, std::string message, std::string hint = {})
      : sqlstate_(sqlstate), message_(std::move(message)), hint_(std::move(hint)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  int sqlstate() const noexcept { return sqlstate_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  int sqlstate_;
  std::string message_;
  std::string hint_;
};

// Runs f() (PostgreSQL calls only); converts an ERROR into a thrown pg_error.
template <typename F>
auto pg_call(F&& f) -> decltype(f()) {
  using result_t = decltype(f());
  if constexpr (std::is_void_v<result_t>) {
    pg_call([&] {
      f();
      return 0;
    });
  } else {
    MemoryContext caller_context = CurrentMemoryContext;
    // volatile: assigned after a longjmp may have happened.
    ErrorData* volatile error = nullptr;
    volatile result_t result{};
    PG_TRY();
    { result = f(); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(caller_context);
      error = CopyErrorData();
      FlushErrorState();
    }
    PG_END_TRY();
    if (error) throw pg_error(error);
    return static_cast<result_t>(result);
  }
}

// Reports what run_guarded caught; only ever called outside C++ handlers.
[[noreturn]] void raise_caught(ErrorData* pg, int sqlstate, const char* message, const char* hint);

// Runs C++ code from an extern "C" entry point; never lets an exception out.
template <typename F>
Datum run_guarded(F&& f) {
  ErrorData* pg = nullptr;
  int sqlstate = ERRCODE_INTERNAL_ERROR;
  char message[512] = {0};
  char hint[512] = {0};
  try {
    return f();
  } catch (pg_error& e) {
    pg = e.release();
  } catch (capture_error& e) {
    sqlstate = e.sqlstate();
    strlcpy(message, e.what(), sizeof message);
    strlcpy(hint, e.hint().c_str(), sizeof hint);
  } catch (std::exception& e) {
    strlcpy(message, e.what(), sizeof message);
  } catch (...) {
    strlcpy(message, "unknown C++ exception", sizeof message);
  }
  // Every C++ handler has exited: ereport may longjmp from here.
  raise_caught(pg, sqlstate, message, hint);
}

}  // namespace queuecast
