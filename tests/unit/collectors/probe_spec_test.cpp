// --probe's values and the names they match: libraries by name, C++ functions by their demangled
// names (every overload, or one), and the spec's own grammar.
#include <gtest/gtest.h>

#include "collectors/elf_symbols.h"
#include "collectors/probes/probe_collector.h"

namespace nt::collectors {
namespace {

TEST(ProbeSpec, LibrarySymbolsAndRules) {
  auto parsed = parse_probe_spec("libc:getpid,read=neg,malloc=null");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed.value().size(), 3u);
  EXPECT_EQ(parsed.value()[0].library, "libc");
  EXPECT_EQ(parsed.value()[0].symbol, "getpid");
  EXPECT_EQ(parsed.value()[0].error_rule, 0);
  EXPECT_EQ(parsed.value()[1].symbol, "read");
  EXPECT_EQ(parsed.value()[1].error_rule, 1);
  EXPECT_EQ(parsed.value()[2].error_rule, 3);
}

TEST(ProbeSpec, CppNamesKeepTheirColonsAndParameterLists) {
  auto parsed = parse_probe_spec("ntprobe:ns::Widget::spin(int, char const*)=nonzero,ns::free_function");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed.value().size(), 2u);
  EXPECT_EQ(parsed.value()[0].library, "ntprobe");
  EXPECT_EQ(parsed.value()[0].symbol, "ns::Widget::spin(int, char const*)");
  EXPECT_EQ(parsed.value()[0].error_rule, 2);
  EXPECT_EQ(parsed.value()[1].symbol, "ns::free_function");
}

TEST(ProbeSpec, Usdt) {
  auto parsed = parse_probe_spec("usdt:/usr/bin/python3:python:function__entry");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed.value().size(), 1u);
  EXPECT_TRUE(parsed.value()[0].usdt);
  EXPECT_EQ(parsed.value()[0].library, "/usr/bin/python3");
  EXPECT_EQ(parsed.value()[0].symbol, "python:function__entry");
}

TEST(ProbeSpec, BadValuesAreErrors) {
  for (const char* bad : {"getpid", ":getpid", "libc:", "libc:getpid=often", "libc:a,,b", "usdt:file:name",
                          "usdt::p:n"})
    EXPECT_FALSE(parse_probe_spec(bad)) << bad;
}

TEST(SymbolMatch, DemangledMangledAndEveryOverload) {
  const ElfFunction spin_int{"_ZN7ntprobe6Widget4spinEi", "ntprobe::Widget::spin(int)", 0x1000};
  EXPECT_TRUE(symbol_matches("_ZN7ntprobe6Widget4spinEi", spin_int));
  EXPECT_TRUE(symbol_matches("ntprobe::Widget::spin(int)", spin_int));
  EXPECT_TRUE(symbol_matches("ntprobe::Widget::spin", spin_int));
  EXPECT_FALSE(symbol_matches("ntprobe::Widget::spin(long)", spin_int));
  EXPECT_FALSE(symbol_matches("ntprobe::Widget::spi", spin_int));
  EXPECT_FALSE(symbol_matches("Widget::spin", spin_int));
}

TEST(LibraryName, NamesAndVersions) {
  EXPECT_TRUE(library_name_matches("libc", "libc.so.6"));
  EXPECT_TRUE(library_name_matches("c", "libc.so.6"));
  EXPECT_TRUE(library_name_matches("libc.so.6", "libc.so.6"));
  EXPECT_TRUE(library_name_matches("cudart", "libcudart.so.13.0.48"));
  EXPECT_TRUE(library_name_matches("libcudart.so", "libcudart.so"));
  EXPECT_FALSE(library_name_matches("libc", "libcap.so.2"));
  EXPECT_FALSE(library_name_matches("libc", "libc-client.so.2007e"));
  EXPECT_FALSE(library_name_matches("nccl", "libnccl-net.so"));
}

}  // namespace
}  // namespace nt::collectors
