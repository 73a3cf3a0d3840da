#include "server/scheduler/batch_planner.h"

#include <gtest/gtest.h>

namespace terraserve::server {
namespace {

TEST(BatchPlannerTest, Table) {
  struct Case {
    const char* name;
    std::vector<PlanRequest> seqs;
    PlanOptions options;
    std::vector<int> want;
  } cases[] = {
      {"decodes only", {{false, 0}, {false, 0}}, {8, 4}, {1, 1}},
      {"decodes first, then chunked prefill",
       {{true, 10}, {false, 0}},
       {8, 4},
       {4, 1}},
      {"budget shared in admission order",
       {{true, 10}, {true, 10}, {false, 0}},
       {8, 5},
       {5, 2, 1}},
      {"budget exhausted skips later prefills",
       {{true, 3}, {true, 10}},
       {3, 8},
       {3, 0}},
      {"short prompt takes what it needs",
       {{true, 2}, {true, 10}},
       {8, 8},
       {2, 6}},
      {"decodes never starve even past the budget",
       {{false, 0}, {false, 0}, {true, 5}},
       {1, 8},
       {1, 1, 0}},
      {"empty", {}, {8, 8}, {}},
  };
  for (const auto& c : cases)
    EXPECT_EQ(PlanBatch(c.seqs, c.options), c.want) << c.name;
}

}  // namespace
}  // namespace terraserve::server
