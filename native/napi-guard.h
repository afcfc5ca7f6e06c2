// Errors across the N-API boundary, shared by the addons (headstart_dnnl.cc, headstart_plan.cc,
// headstart_optim.cc; include oneDNN's header first where its errors can occur): a Failure
// carries one of headstart's error codes to JS; guarded() turns it (and oneDNN's or any C++ error)
// into a thrown JS error instead of letting an exception cross into Node.
#pragma once

#include <node_api.h>

#include <exception>
#include <string>

namespace hsnative {

struct Failure {
  std::string code;
  std::string message;
};

template <typename F>
napi_value guarded(napi_env env, F&& body) {
  try {
    return body();
  } catch (const Failure& f) {
    napi_throw_error(env, f.code.c_str(), f.message.c_str());
#ifdef ONEAPI_DNNL_DNNL_HPP
  } catch (const dnnl::error& e) {
    napi_throw_error(env, "E_ENGINE_RUN", (std::string("oneDNN: ") + e.what()).c_str());
#endif
  } catch (const std::exception& e) {
    napi_throw_error(env, "E_INTERNAL", e.what());
  }
  return nullptr;
}

}  // namespace hsnative
