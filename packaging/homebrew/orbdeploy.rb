# Homebrew formula for orbdeploy, built from source with cargo.
#
# Homebrew installs formulae from a tap; see README.md ("Install") for the three commands
# that put this file in a local one. Until the repository has a release tag this formula
# builds the main branch only (`brew install --HEAD`); with a tag, add its `url` and
# `sha256` (the tag's source archive) above `head`, and set ORBDEPLOY_BUILD_COMMIT in
# `install` (an archive has no .git, and `--version` would say `commit unknown`).
class Orbdeploy < Formula
  desc "Deploy runner for OrbStack Linux machines"
  homepage "https://github.com/orbdeploy/orbdeploy"
  license any_of: ["MIT", "Apache-2.0"]
  head "https://github.com/orbdeploy/orbdeploy.git", branch: "main"

  depends_on "rust" => :build

  def install
    # A HEAD build is a git clone: build.rs reads its commit for `orbdeploy --version`.
    system "cargo", "install", *std_cargo_args
    generate_completions_from_executable(bin/"orbdeploy", "completions")
  end

  test do
    assert_match(/^orbdeploy \d+\.\d+\.\d+ \(commit [0-9a-f]{7,}\)$/,
                 shell_output("#{bin}/orbdeploy --version").strip)
    # A bad inventory is exit 2 before any orbctl call: no OrbStack needed.
    (testpath/"inv.yaml").write("machines: [not, a, mapping]\n")
    shell_output("#{bin}/orbdeploy inventory #{testpath}/inv.yaml", 2)
  end
end
