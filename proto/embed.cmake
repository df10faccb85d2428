# embed.cmake: turn a binary file into a C array, at build time.
#   cmake -DINPUT=<file> -DOUTPUT=<file.c> -DSYMBOL=<name> -P proto/embed.cmake
# defines  const unsigned char <name>[];  const size_t <name>_len;
file(READ ${INPUT} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
file(WRITE ${OUTPUT}.tmp
     "/* Generated from ${SYMBOL} input by proto/embed.cmake. */\n"
     "#include <stddef.h>\n"
     "extern const unsigned char ${SYMBOL}[];\n"
     "extern const size_t ${SYMBOL}_len;\n"
     "const unsigned char ${SYMBOL}[] = {\n${bytes}0x00};\n"
     "const size_t ${SYMBOL}_len = ${len};\n")
configure_file(${OUTPUT}.tmp ${OUTPUT} COPYONLY)
