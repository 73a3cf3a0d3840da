#include "server/scheduler/stop_matcher.h"

#include <gtest/gtest.h>

namespace terraserve::server {
namespace {

TEST(StopMatcherTest, HoldsBackPossiblePrefixAndStopsAcrossPieces) {
  StopMatcher m({"END"}, false);
  EXPECT_EQ(m.Add("hello E").text, "hello ");  // "E" could start "END"
  auto r = m.Add("N");
  EXPECT_EQ(r.text, "");
  EXPECT_FALSE(r.matched);
  r = m.Add("D and more");
  ASSERT_TRUE(r.matched);
  EXPECT_EQ(*r.matched, "END");
  EXPECT_EQ(r.text, "");  // the stop text is dropped
}

TEST(StopMatcherTest, ReleasesHeldTextWhenItCannotMatch) {
  StopMatcher m({"END"}, false);
  EXPECT_EQ(m.Add("E").text, "");
  EXPECT_EQ(m.Add("x").text, "Ex");
  EXPECT_EQ(m.Add("EN").text, "");
  EXPECT_EQ(m.Flush(), "EN");
}

TEST(StopMatcherTest, IncludeStopSequenceAndEarliestMatchWins) {
  StopMatcher m({"bb", "ab"}, true);
  auto r = m.Add("xxabb");
  ASSERT_TRUE(r.matched);
  EXPECT_EQ(*r.matched, "ab");
  EXPECT_EQ(r.text, "xxab");
}

TEST(StopMatcherTest, NoStopsPassesEverythingThrough) {
  StopMatcher m({}, false);
  EXPECT_EQ(m.Add("abc").text, "abc");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, MultiByteStopSequence) {
  StopMatcher m({"🙂"}, false);
  EXPECT_EQ(m.Add("hi \xF0\x9F").text, "hi ");
  auto r = m.Add("\x99\x82!");
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(r.text, "");
}

}  // namespace
}  // namespace terraserve::server
