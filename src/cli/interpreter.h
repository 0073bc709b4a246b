// The evaluator of the `tessera` language: runs a parsed program over the Array API.
//
// The interpreter never talks to a cluster itself: `.compute()`, `.persist()` and the value of
// the last expression go through callbacks, so tests run it with a fake and `tessera` wires in
// a tessera::Client.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/tessera.h"

namespace tessera::cli {

struct Expr;
struct Builtin;

/// A value of the language: Python scalars and containers, arrays (lazy or computed), dtypes,
/// functions and modules.
struct Value {
  enum class Kind : int8_t {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kTuple,
    kList,
    kEllipsis,
    kSlice,    ///< `items` holds start, stop, step (None where omitted)
    kArray,    ///< lazy tessera::Array
    kNDArray,  ///< a computed array
    kDType,
    kFunction,  ///< a builtin, or a method bound to `items[0]`
    kModule,    ///< `text` is the module's dotted name ("dask.array", "dask.array.random")
    kDelayed,   ///< a lazy call of a registered function (`delayed`), computed when shown
    kRandomState,  ///< da.random.RandomState(seed): `random_state`, shared by its copies
    kClient,       ///< dask.distributed's Client / LocalCluster: the session's cluster
  };
  Kind kind = Kind::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string text;  ///< kString, kModule; kFunction: its name
  std::vector<Value> items;
  std::shared_ptr<const Array> array;
  std::shared_ptr<const NDArray> ndarray;
  std::shared_ptr<random::RandomState> random_state;
  DType dtype = DType::kFloat64;
  std::shared_ptr<const Builtin> function;
  std::shared_ptr<const tessera::Delayed> delayed;

  static Value None() { return {}; }
  static Value Bool(bool v);
  static Value Int(int64_t v);
  static Value Float(double v);
  static Value String(std::string v);
  static Value Tuple(std::vector<Value> items);
  static Value FromArray(Array a);
  static Value FromNDArray(NDArray a);
  static Value FromDType(DType d);
  static Value Module(std::string name);

  /// Python's type name ("int", "tuple", "Array", ...), for error messages.
  std::string TypeName() const;
};

/// What the interpreter needs from the outside world.
/// What `Client(...)` / `LocalCluster(...)` ask for (dask.distributed's arguments).
struct ClientSpec {
  std::string address;   ///< a scheduler address; "" for the session's or a local cluster
  int n_workers = 0;     ///< local cluster options; 0: not given
  int threads_per_worker = 0;
  int64_t memory_limit = 0;
  bool local_options() const { return n_workers > 0 || threads_per_worker > 0 || memory_limit > 0; }
};

struct InterpreterOptions {
  /// Computes an array (Client::compute(x).get()). Required for `.compute()` and for printing
  /// an array value.
  std::function<NDArray(const Array&)> compute;
  /// Client::persist. Without it `.persist()` is an error.
  std::function<Array(const Array&)> persist;
  /// The names of the functions registered in the cluster's workers (inc, add, sleep, plugins'
  /// functions). A call of one of them (`inc(1)`) builds a lazy call, as dask.delayed does;
  /// names the language already defines (`add`, `sum`) become calls when an argument is one.
  /// Asked once, on the first name the language does not know. Without it, none are known.
  std::function<std::vector<std::string>()> functions;
  /// Computes a lazy call (Client::compute(d).result()). Required to show or use its value.
  std::function<tessera::Value(const tessera::Delayed&)> compute_delayed;
  /// Client(...) / LocalCluster(...): starts or joins the session's cluster as `spec` asks, or
  /// throws Error when it cannot (a cluster already started with other options). Without it,
  /// Client() is an error.
  std::function<void(const ClientSpec&)> connect;
  /// The repr of the session's client, as dask's: "<Client: 'tcp://...' processes=2 threads=2,
  /// memory=...>"; and its dashboard's address ("" without one).
  std::function<std::string()> describe_client;
  std::function<std::string()> dashboard_link;
  /// Where `print(...)` writes a line (default: stdout).
  std::function<void(const std::string&)> print;
  /// Print arrays in full instead of NumPy's summary of more than 1000 elements.
  bool print_array = false;
};

/// Runs programs of the tessera language. Names persist from one Run to the next. Not
/// thread-safe.
class Interpreter {
 public:
  explicit Interpreter(InterpreterOptions options);
  ~Interpreter();

  /// Runs `source`. If the last statement is an expression, returns its value (not computed);
  /// otherwise None. Throws tessera::Error with a one-line message that names the line and
  /// column ("line 1, column 9: name 'foo' is not defined").
  Value Evaluate(std::string_view source);

  /// Runs `source` and returns what Python's REPL would print for the last expression: an
  /// array is computed and shown as NumPy's repr, None prints nothing (nullopt). Throws Error.
  std::optional<std::string> Run(std::string_view source);

  /// Python's repr of a value; a lazy array is computed first.
  std::string Repr(const Value& value);

  /// The value bound to `name`, or nullptr.
  const Value* Lookup(const std::string& name) const;

  // Used by the builtins (interpreter.cc).
  /// Client(...) / LocalCluster(...): the session's cluster as `spec` asks (options_.connect).
  void Connect(const Expr& at, const ClientSpec& spec);
  /// The stream that random functions called without seed= draw from (da.random.seed sets it).
  random::RandomState& GlobalRandom() { return *global_random_; }
  /// Writes one line where `print` goes.
  void Print(const std::string& line);
  /// Computes `v` if it is a lazy array (errors located at `at`); other values pass through.
  Value Compute(const Expr& at, const Value& v);
  /// Python's truth value; an array of more than one element is an error.
  bool Truth(const Expr& at, const Value& v);
  /// Python's binary operator `op` ("+", "**", "<", ...) on arrays and numbers.
  Value EvalBinary(const Expr& at, const std::string& op, const Value& a, const Value& b);

 private:
  std::string ReprImpl(const Value& v, bool top);
  Value Eval(const Expr& e);
  Value EvalCall(const Expr& e);
  Value EvalAttribute(const Expr& e);
  /// `base.name` for the attribute expression `e`.
  Value AttributeOf(const Value& base, const Expr& e);
  Value EvalSubscript(const Expr& e);
  Value EvalUnary(const Expr& at, const std::string& op, const Value& a);
  Value EvalCompare(const Expr& e);

  Value EvalListComp(const Expr& e);
  /// A registered function's name, or nullptr (asks options_.functions once).
  bool IsRegisteredFunction(const std::string& name);
  Value MakeCall(const Expr& at, const std::string& function, const std::vector<Value>& args,
                 const std::vector<const Expr*>& args_at);

  InterpreterOptions options_;
  std::map<std::string, Value, std::less<>> globals_;
  // The stream of da.random.random(...) and friends called without seed= (NumPy's global
  // RandomState): a fresh seed, or the one da.random.seed(n) set.
  std::shared_ptr<random::RandomState> global_random_ = std::make_shared<random::RandomState>();
  std::optional<std::set<std::string, std::less<>>> registered_;
};

}  // namespace tessera::cli
