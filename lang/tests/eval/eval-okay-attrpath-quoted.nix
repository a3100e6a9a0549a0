{
  "a.b".c = 1;
  a."b.c" = 2;
  "with space"."and more" = 3;
}
