rec {
  first = second + "!";
  second = third + third;
  third = "ab";
}
