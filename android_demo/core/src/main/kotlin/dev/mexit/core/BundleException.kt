package dev.mexit.core

/** A bundle that cannot be used, with one line that says why (shown on screen and logged). */
class BundleException(message: String) : Exception(message)
