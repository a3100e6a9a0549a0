{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  security.wrappers.ping = { source = "/usr/bin/ping"; owner = "root"; group = "root"; setuid = true; capabilities = "cap_net_raw+ep"; };
}
