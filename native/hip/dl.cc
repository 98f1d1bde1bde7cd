// dlopen helpers and DriverError (no N-API here: the providers stay plain C++).
#include <dlfcn.h>

#include <cstdlib>

#include "driver.h"

namespace kpack {
namespace hip {

static std::string ErrorMessage(const std::string& call, int code, const std::string& codeName, const std::string& text,
                                const std::string& log) {
  std::string m = call + " failed: " + (codeName.empty() ? "error" : codeName) + " (" + std::to_string(code);
  if (!text.empty() && text != codeName) m += ": " + text;
  m += ")";
  if (!log.empty()) m += "\n" + log;
  return m;
}

DriverError::DriverError(std::string api_, std::string call_, int code_, std::string codeName_, std::string text,
                         std::string log_)
    : std::runtime_error(ErrorMessage(call_, code_, codeName_, text, log_)),
      api(std::move(api_)),
      call(std::move(call_)),
      code(code_),
      codeName(std::move(codeName_)),
      log(std::move(log_)) {}

bool Library::Open(const std::vector<std::string>& names, const std::vector<std::string>& dirs, std::string* why) {
  std::string tried, firstError;
  for (const std::string& n : names) {
    std::vector<std::string> paths{n};
    if (n.find('/') == std::string::npos)
      for (const std::string& d : dirs)
        if (!d.empty()) paths.push_back(d + "/" + n);
    for (const std::string& p : paths) {
      dlerror();
      void* h = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (h) {
        handle_ = h;
        path_ = p;
        return true;
      }
      const char* e = dlerror();
      if (firstError.empty() && e) firstError = e;
    }
    tried += (tried.empty() ? "" : ", ") + n;
  }
  // "libcuda.so.1 not found (libcuda.so.1: cannot open shared object file: ...)": the first
  // dlerror says why; the directory variants only add noise.
  if (why) *why = tried + " not found (" + (firstError.empty() ? "unknown error" : firstError) + ")";
  return false;
}

void* Library::Sym(const char* name) const { return handle_ ? dlsym(handle_, name) : nullptr; }

void* Library::SymAny(std::initializer_list<const char*> names) const {
  for (const char* n : names)
    if (void* p = Sym(n)) return p;
  return nullptr;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string DirOfSymbol(void* symbol) {
  Dl_info info;
  if (!symbol || !dladdr(symbol, &info) || !info.dli_fname) return "";
  std::string f(info.dli_fname);
  size_t slash = f.rfind('/');
  return slash == std::string::npos ? "" : f.substr(0, slash);
}

}  // namespace hip
}  // namespace kpack
