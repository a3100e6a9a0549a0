# A command channel for strata's own QEMU tests: a service that reads base64-encoded shell
# command lines from the second serial port (/dev/ttyS1), runs each as root, and answers with
# its output and a line `@@strata-rc=<exit code>@@`. An empty line is answered with
# `@@strata-ready@@`: bytes that arrive before the port is open are lost, so the harness asks
# until the service answers, then sends the command. It does not depend on the console, so a
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
          # An empty line asks whether the channel listens.
          if [ -z "$line" ]; then
            printf '@@strata-ready@@\n' > "$port"
            continue
          fi
          cmd=$(printf '%s' "$line" | base64 -d)
          # The script runs under `set -e`: a failing command must not end the channel.
          out=$(sh -c "$cmd" 2>&1 < /dev/null) && rc=0 || rc=$?
          printf '%s\n@@strata-rc=%d@@\n' "$out" "$rc" > "$port"
        done < "$port"
      '';
    };
  };
}
