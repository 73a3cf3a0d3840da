// TLS, mutual TLS and bearer-token auth, end to end with the real server and
// CLI.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"

namespace terraserve {
namespace {

using testing::RunCommand;
using testing::ServerProcess;

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/terraserve-tls-XXXXXX";
    dir_ = mkdtemp(tmpl);
    // A CA, a server cert for "localhost" and a client cert, all signed by the
    // CA.
    const std::string script =
        "set -e; cd " + dir_ +
        ";"
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
        "-days 2 -subj /CN=test-ca 2>/dev/null;"
        "for n in server client; do "
        "openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj "
        "/CN=localhost 2>/dev/null;"
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > $n.ext;"
        "openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-out $n.pem -days 2 -extfile $n.ext 2>/dev/null;"
        "done; echo s3cret > token";
    auto r = RunCommand({"/bin/sh", "-c", script}, absl::Seconds(60));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  void TearDown() override {
    RunCommand({"/bin/rm", "-rf", dir_}, absl::Seconds(10));
  }

  testing::ProcessResult Cli(const ServerProcess& s,
                             std::vector<std::string> flags,
                             const std::string& command) {
    std::vector<std::string> argv = {TERRASERVE_CLI_BIN,
                                     "--addr=" + s.address(), "--timeout=20"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(command);
    if (command == "tokenize") argv.push_back("hello");
    return RunCommand(argv, absl::Seconds(30));
  }

  std::string dir_;
};

TEST_F(SecurityTest, BearerTokenGuardsTheApiButNotHealth) {
  auto s = ServerProcess::Start({"--model_dir=" + testing::TestModelDir(),
                                 "--auth_token_file=" + dir_ + "/token"});
  ASSERT_TRUE(s.ok()) << s.status();
  auto no_token = Cli(**s, {}, "tokenize");
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_NE(no_token.output.find("UNAUTHENTICATED"), std::string::npos)
      << no_token.output;
  std::ofstream(dir_ + "/wrong") << "nope\n";
  auto wrong = Cli(**s, {"--token_file=" + dir_ + "/wrong"}, "tokenize");
  EXPECT_NE(wrong.output.find("invalid bearer token"), std::string::npos)
      << wrong.output;
  auto ok = Cli(**s, {"--token_file=" + dir_ + "/token"}, "tokenize");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  auto health = Cli(**s, {}, "health");
  EXPECT_EQ(health.exit_code, 0) << health.output;
}

TEST_F(SecurityTest, TlsAndMutualTls) {
  auto tls = ServerProcess::Start({"--model_dir=" + testing::TestModelDir(),
                                   "--tls_cert=" + dir_ + "/server.pem",
                                   "--tls_key=" + dir_ + "/server.key"});
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_NE(Cli(**tls, {}, "health").exit_code, 0);  // plaintext client refused
  auto ok = Cli(**tls, {"--tls_ca=" + dir_ + "/ca.pem"}, "tokenize");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;

  auto mtls = ServerProcess::Start({"--model_dir=" + testing::TestModelDir(),
                                    "--tls_cert=" + dir_ + "/server.pem",
                                    "--tls_key=" + dir_ + "/server.key",
                                    "--tls_client_ca=" + dir_ + "/ca.pem"});
  ASSERT_TRUE(mtls.ok()) << mtls.status();
  EXPECT_NE(Cli(**mtls, {"--tls_ca=" + dir_ + "/ca.pem"}, "health").exit_code,
            0);  // no client cert
  auto with_cert =
      Cli(**mtls,
          {"--tls_ca=" + dir_ + "/ca.pem", "--tls_cert=" + dir_ + "/client.pem",
           "--tls_key=" + dir_ + "/client.key"},
          "tokenize");
  EXPECT_EQ(with_cert.exit_code, 0) << with_cert.output;
}

TEST_F(SecurityTest, BadSecurityFlagsExitWithClearErrors) {
  auto r = RunCommand({TERRASERVE_SERVER_BIN, "--port=0", "--metrics_port=-1",
                       "--model_dir=" + testing::TestModelDir(),
                       "--tls_cert=" + dir_ + "/server.pem"},
                      absl::Seconds(30));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--tls_cert and --tls_key must be given together"),
            std::string::npos)
      << r.output;
  auto missing =
      RunCommand({TERRASERVE_SERVER_BIN, "--port=0", "--metrics_port=-1",
                  "--model_dir=" + testing::TestModelDir(),
                  "--auth_token_file=/nonexistent/token"},
                 absl::Seconds(30));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("--auth_token_file: cannot read"),
            std::string::npos)
      << missing.output;
}

}  // namespace
}  // namespace terraserve
