# A command channel for strata's own QEMU tests: a service that reads base64-encoded shell
# command lines from the second serial port (/dev/ttyS1), runs each as root, and answers with
# its output and a line `@@strata-rc=<exit code>@@`. It does not depend on the console, so a
# test can check a machine while the console shows the boot. Never enable it on a machine that
# anyone else can attach a serial line to: it runs what it is sent.
{ config, lib, ... }:
let
  cfg = config.testing.commandChannel;
in
{
  options.testing.commandChannel.enable = lib.mkOption {
    type = lib.types.bool;
    default = false;
    description = "Whether to run the test command channel on the second serial port (tests only).";
  };
  config = lib.mkIf cfg.enable {
    systemd.services.strata-test-channel = {
      description = "Run commands sent by the test harness on the second serial port";
      wantedBy = [ "multi-user.target" ];
      serviceConfig.Restart = "always";
      script = ''
        port=/dev/ttyS1
        stty -F "$port" 115200 raw -echo
        while read -r line; do
          cmd=$(printf '%s' "$line" | base64 -d)
          out=$(sh -c "$cmd" 2>&1 < /dev/null)
          rc=$?
          printf '%s\n@@strata-rc=%d@@\n' "$out" "$rc" > "$port"
        done < "$port"
      '';
    };
  };
}
