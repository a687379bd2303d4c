package io.graphsync.neo4j;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.configuration.ssl.ClientAuth;
import org.neo4j.configuration.ssl.SslPolicyConfig;
import org.neo4j.configuration.ssl.SslPolicyScope;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

/**
 * Runs an embedded Neo4j DBMS that clients reach over Bolt, like a server.
 *
 * <p>Arguments: {@code --data-dir DIR --bolt-port PORT [--auth on|off] [--read-only on|off]
 * [--page-cache-mb N] [--tls-dir DIR]}. With {@code --read-only on} every database but {@code system}
 * refuses writes (what an operator's read-only switch or a read replica does to a client). With
 * {@code --tls-dir} Bolt takes TLS connections only, with the key and certificate {@code private.key}
 * and {@code public.crt} of that folder, and each client must show a certificate signed by a CA in its
 * {@code trusted/} subfolder. With
 * auth on, the password of user {@code neo4j} is read from the environment variable
 * {@code NEO4J_PASSWORD} (never from the command line, where {@code ps} would show it).
 */
public final class Launcher {
  private Launcher() {}

  public static void main(String[] args) throws InterruptedException {
    Map<String, String> options = parse(args);
    Path dataDir = Path.of(require(options, "--data-dir"));
    int boltPort = Integer.parseInt(require(options, "--bolt-port"));
    boolean auth = "on".equals(options.getOrDefault("--auth", "off"));
    boolean readOnly = "on".equals(options.getOrDefault("--read-only", "off"));
    long pageCacheMb = Long.parseLong(options.getOrDefault("--page-cache-mb", "256"));
    String password = System.getenv("NEO4J_PASSWORD");
    if (auth && (password == null || password.length() < 8)) {
      fail("--auth on needs NEO4J_PASSWORD set to at least 8 characters");
    }

    if (auth) {
      // Set the password with no client connected: on a restart with a rotated password, a client
      // must not get in with the old one while it is being changed (auth is checked only when a
      // connection opens, so such a client would keep working on the old password for good).
      DatabaseManagementService setup = builder(dataDir, boltPort, false, pageCacheMb).build();
      try {
        // The built-in user starts with a password that must be changed; set ours instead.
        setup
            .database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME)
            .executeTransactionally(
                "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                Map.of("password", password));
      } catch (RuntimeException e) {
        // A restart with the password it already has: Neo4j refuses to "change" it to itself.
        if (!samePassword(e)) {
          throw e;
        }
      } finally {
        setup.shutdown();
      }
    }
    DatabaseManagementServiceBuilder served =
        builder(dataDir, boltPort, true, pageCacheMb)
            .setConfig(GraphDatabaseSettings.auth_enabled, auth)
            .setConfig(GraphDatabaseSettings.read_only_database_default, readOnly);
    String tlsDir = options.get("--tls-dir");
    if (tlsDir != null) {
      SslPolicyConfig bolt = SslPolicyConfig.forScope(SslPolicyScope.BOLT);
      served
          .setConfig(bolt.enabled, true)
          .setConfig(bolt.base_directory, Path.of(tlsDir))
          .setConfig(bolt.client_auth, ClientAuth.REQUIRE)
          .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.REQUIRED);
    }
    DatabaseManagementService dbms = served.build();
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  dbms.shutdown();
                  stopped.countDown();
                }));
    System.out.println("graphsync-neo4j ready bolt://127.0.0.1:" + boltPort);
    System.out.flush();
    stopped.await();
  }

  private static DatabaseManagementServiceBuilder builder(
      Path dataDir, int boltPort, boolean bolt, long pageCacheMb) {
    return new DatabaseManagementServiceBuilder(dataDir)
        .setConfig(BoltConnector.enabled, bolt)
        .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", boltPort))
        .setConfig(HttpConnector.enabled, false)
        .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(pageCacheMb));
  }

  private static boolean samePassword(Throwable error) {
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      if (String.valueOf(cause.getMessage()).contains("Old password and new password cannot be the same")) {
        return true;
      }
    }
    return false;
  }

  private static Map<String, String> parse(String[] args) {
    Map<String, String> options = new HashMap<>();
    for (int i = 0; i < args.length; i += 2) {
      if (i + 1 >= args.length || !args[i].startsWith("--")) {
        fail("expected --name value pairs, got " + String.join(" ", args));
      }
      options.put(args[i], args[i + 1]);
    }
    return options;
  }

  private static String require(Map<String, String> options, String name) {
    String value = options.get(name);
    if (value == null) {
      fail("missing " + name);
    }
    return value;
  }

  private static void fail(String message) {
    System.err.println("graphsync-neo4j: " + message);
    System.exit(2);
  }
}
