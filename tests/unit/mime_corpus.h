/* SPDX-License-Identifier: MIT */
/*
 * mime_corpus.h - test messages shared by test_mime.c and test_imap_struct.c
 *
 * Stored as maildir files are: LF line ends unless the name says CRLF.
 * Expected sizes in the tests were counted by hand from these bytes; keep
 * them in step when a message changes. The fuzz seeds in
 * tests/fuzz/corpus/mime/ are copies of these messages.
 */
#ifndef POSTHORN_TESTS_MIME_CORPUS_H
#define POSTHORN_TESTS_MIME_CORPUS_H

/* A plain RFC 5322 message, no MIME fields. Body: 31 bytes, 2 lines. */
static const char msg_simple[] =
        "Return-Path: <alice@example.org>\n"
        "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\n"
        "From: \"Alice Q. Example\" <alice@example.org>\n"
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from\n"
        " Alice\n"
        "Sender: alice-list@example.org\n"
        "To: Bob <bob@example.net>, carol@example.com\n"
        "Cc: friends: dave@example.com, \"Eve E.\" <eve@example.com>;\n"
        "Message-ID: <B27397-0100000@example.org>\n"
        "In-Reply-To: <1234@local.example>\n"
        "\n"
        "Hello Bob,\n"
        "this is plain text.\n";

/* multipart/mixed, CRLF, with preamble, epilogue, a QP text part, a
 * base64 attachment and a raw binary part holding NUL and 8-bit bytes. */
static const char msg_mixed_crlf[] =
        "From: a@example.org\r\n"
        "To: b@example.org\r\n"
        "Subject: mixed\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"=_b1\"\r\n"
        "\r\n"
        "This is the preamble.\r\n"
        "--=_b1\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "Gr=C3=BC=C3=9Fe\r\n"
        "--=_b1\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=\"data.bin\"\r\n"
        "\r\n"
        "AAECAwQFBgcICQoLDA0ODw==\r\n"
        "--=_b1\r\n"
        "Content-Type: application/x-raw\r\n"
        "Content-Transfer-Encoding: binary\r\n"
        "\r\n"
        "\x00\x01\x02\xff\xfe\r\n"
        "--=_b1--\r\n"
        "This is the epilogue.\r\n";

/* multipart/alternative with every extension field on its HTML part. */
static const char msg_alternative[] =
        "From: Shop <shop@example.com>\n"
        "To: you@example.net\n"
        "Subject: Offer\n"
        "Date: Tue, 1 Oct 2024 10:00:00 +0000\n"
        "Message-ID: <alt-1@example.com>\n"
        "Content-Type: multipart/alternative;\n"
        " boundary=\"alt-boundary\"\n"
        "\n"
        "--alt-boundary\n"
        "Content-Type: text/plain; charset=\"us-ascii\"\n"
        "Content-Language: en\n"
        "\n"
        "Plain version\n"
        "--alt-boundary\n"
        "Content-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "Content-ID: <html@example.com>\n"
        "Content-Description: HTML version\n"
        "Content-Location: http://example.com/offer.html\n"
        "Content-Language: en, de\n"
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
        "\n"
        "<p>Gr\xc3\xbc\xc3\x9f"
        "e</p>\n"
        "<p>Bye</p>\n"
        "\n"
        "--alt-boundary--\n";

/* A forwarded message (message/rfc822 holding a multipart/alternative)
 * between a text part and an image with RFC 2231 names. */
static const char msg_nested[] =
        "From: outer@example.org\n"
        "To: inner@example.org\n"
        "Subject: Fwd: hello\n"
        "Content-Type: multipart/mixed; boundary=outer\n"
        "\n"
        "--outer\n"
        "Content-Type: text/plain\n"
        "\n"
        "See attached.\n"
        "--outer\n"
        "Content-Type: message/rfc822\n"
        "Content-Disposition: inline\n"
        "\n"
        "From: =?iso-8859-1?q?J=F6rg?= <joerg@example.de>\n"
        "To: undisclosed-recipients:;\n"
        "Subject: hello\n"
        "Date: Wed, 2 Oct 2024 08:00:00 +0200\n"
        "Content-Type: multipart/alternative; boundary=\"inner\"\n"
        "\n"
        "--inner\n"
        "Content-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "Hall=F6chen\n"
        "--inner\n"
        "Content-Type: text/html; charset=iso-8859-1\n"
        "\n"
        "<b>Hallo</b>\n"
        "--inner--\n"
        "\n"
        "--outer\n"
        "Content-Type: image/png; name*=utf-8''%E2%82%AC.png\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment;\n"
        " filename*0*=utf-8''%E2%82%AC;\n"
        " filename*1=\".png\"\n"
        "\n"
        "iVBORw0KGgo=\n"
        "--outer--\n";

/* Raw UTF-8, quotes, a backslash and a NUL in header values. */
static const char msg_8bit_header[] =
        "From: J\xc3\xb6rg <j@example.de>\n"
        "Subject: caf\xc3\xa9 \"quoted\" back\\slash\n"
        "Message-ID: <a\x00"
        "b@x>\n"
        "\n"
        "x";

/* A multipart whose close delimiter never comes. */
static const char msg_no_close[] = "Content-Type: multipart/mixed; boundary=b\n"
                                   "\n"
                                   "--b\n"
                                   "Content-Type: text/plain\n"
                                   "\n"
                                   "abc\n";

/* Declared multipart without a boundary parameter. */
static const char msg_no_boundary[] = "Content-Type: multipart/mixed\n"
                                      "\n"
                                      "body text\n";

/* A boundary parameter that no line uses; a nested boundary sharing the
 * outer one's prefix must not end the outer part. */
static const char msg_prefix_boundary[] =
        "Content-Type: multipart/mixed; boundary=abc\n"
        "\n"
        "--abc\n"
        "Content-Type: multipart/alternative; boundary=abcdef\n"
        "\n"
        "--abcdef\n"
        "\n"
        "one\n"
        "--abcdef--\n"
        "--abc--\n";

/* multipart/digest: parts default to message/rfc822 (RFC 2046 5.1.5);
 * an encoded message/rfc822 cannot be parsed (RFC 2046 5.2.1). */
static const char msg_digest[] = "Content-Type: multipart/digest; boundary=d\n"
                                 "\n"
                                 "--d\n"
                                 "\n"
                                 "Subject: first\n"
                                 "\n"
                                 "one\n"
                                 "--d\n"
                                 "Content-Type: message/rfc822\n"
                                 "Content-Transfer-Encoding: base64\n"
                                 "\n"
                                 "U3ViamVjdDogeAoKeQo=\n"
                                 "--d\n"
                                 "Content-Type: ???\n"
                                 "\n"
                                 "junk type\n"
                                 "--d--\n";

#endif
