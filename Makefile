# Install libws for C/C++ hosts:  make install PREFIX=/usr/local  (DESTDIR is honoured).
# Installs libws.so.X.Y.Z with soname libws.so.X, libws.a, include/libws.h and lib/pkgconfig/libws.pc.
# The .so is installed stripped (the release build carries debug info: debug = 1 in Cargo.toml);
# its symbols and debug info go to $(DEBUGDIR)/libws.so.X.Y.Z.debug, which the .so names in its
# .gnu_debuglink, so gdb and perf find them there (a .debug directory beside the library is one
# of the places gdb looks).
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DEBUGDIR ?= $(LIBDIR)/.debug
OBJCOPY ?= objcopy
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))

.PHONY: all install uninstall
all:
	cargo build --release

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(DEBUGDIR)
	install -m 644 target/release/libws.a $(DESTDIR)$(LIBDIR)/libws.a
	$(OBJCOPY) --only-keep-debug target/release/libws.so $(DESTDIR)$(DEBUGDIR)/libws.so.$(VERSION).debug
	chmod 644 $(DESTDIR)$(DEBUGDIR)/libws.so.$(VERSION).debug
	$(OBJCOPY) --strip-unneeded --add-gnu-debuglink=$(DESTDIR)$(DEBUGDIR)/libws.so.$(VERSION).debug \
	    target/release/libws.so $(DESTDIR)$(LIBDIR)/libws.so.$(VERSION)
	chmod 755 $(DESTDIR)$(LIBDIR)/libws.so.$(VERSION)
	ln -sf libws.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libws.so.$(MAJOR)
	ln -sf libws.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libws.so
	install -m 644 include/libws.h $(DESTDIR)$(INCLUDEDIR)/libws.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' libws.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libws.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libws.a $(DESTDIR)$(LIBDIR)/libws.so* $(DESTDIR)$(INCLUDEDIR)/libws.h \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/libws.pc $(DESTDIR)$(DEBUGDIR)/libws.so.*.debug
