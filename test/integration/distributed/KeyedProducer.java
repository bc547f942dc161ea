import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Kafka's own Java producer, for the distributed tests: each line of stdin becomes one record
 * per topic, keyed by that line (UTF-8), placed by the default partitioner, idempotent with
 * acks=all. Prints "topic key partition offset" per record once all are acknowledged.
 * Usage: java -cp '<kafka jars>/*' KeyedProducer.java <brokers> <topic>...
 */
public class KeyedProducer {
  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.put("bootstrap.servers", args[0]);
    props.put("acks", "all");
    props.put("enable.idempotence", "true");
    props.put("key.serializer", ByteArraySerializer.class.getName());
    props.put("value.serializer", ByteArraySerializer.class.getName());
    List<String> sentAs = new ArrayList<>();
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props);
        BufferedReader in =
            new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        byte[] key = line.getBytes(StandardCharsets.UTF_8);
        for (int t = 1; t < args.length; t++) {
          sentAs.add(args[t] + " " + line);
          sent.add(producer.send(new ProducerRecord<>(args[t], key, key)));
        }
      }
      producer.flush();
      for (int i = 0; i < sentAs.size(); i++) {
        RecordMetadata md = sent.get(i).get();
        System.out.println(sentAs.get(i) + " " + md.partition() + " " + md.offset());
      }
    }
  }
}
