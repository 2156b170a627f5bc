# Install libws for C/C++ hosts:  make install PREFIX=/usr/local  (DESTDIR is honoured).
# Installs libws.so.X.Y.Z with soname libws.so.X, libws.a, include/libws.h and lib/pkgconfig/libws.pc.
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))

.PHONY: all install uninstall
all:
	cargo build --release

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 644 target/release/libws.a $(DESTDIR)$(LIBDIR)/libws.a
	install -m 755 target/release/libws.so $(DESTDIR)$(LIBDIR)/libws.so.$(VERSION)
	ln -sf libws.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libws.so.$(MAJOR)
	ln -sf libws.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libws.so
	install -m 644 include/libws.h $(DESTDIR)$(INCLUDEDIR)/libws.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' libws.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libws.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libws.a $(DESTDIR)$(LIBDIR)/libws.so* $(DESTDIR)$(INCLUDEDIR)/libws.h \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/libws.pc
